//! REGISTER with digest auth, refreshed before expiry, retried with
//! back-off on failure, and removed on shutdown. Every state change is a
//! `sip.registration` event.
//!
//! The loop is ours rather than rsipstack's `Registration::keep_alive`
//! (same refresh and back-off rules) for one reason: a REGISTER over UDP
//! to a port where nothing listens is answered by ICMP, which rsipstack's
//! transaction never hears, so the attempt failed only when Timer F fired
//! (32 s). Here each attempt also waits for the agent's ICMP reports
//! (`unreachable.rs`) about the registrar's address and fails at once as a
//! 503 (RFC 3261 §8.1.3.1, §18.4), then backs off as any failure does.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::registration::{refresh_interval, Registration};
use rsipstack::sip::transport::Transport;
use rsipstack::sip::typed::Contact;
use rsipstack::sip::{Auth, HostWithPort, Param, Scheme, StatusCodeKind, Uri};
use rsipstack::transport::SipAddr;
use tandem_sdk::events::sip::Registration as RegistrationEvent;
use tandem_sdk::tokio;
use tandem_sdk::util::Backoff;
use tokio_util::sync::CancellationToken;

use crate::transport::icmp::Unreachable;
use crate::transport::public::Seen;
use crate::ua::agent::Agent;
use crate::ua::keepalive::Schedule;
use crate::uri::parse_target;

/// How long shutdown waits for the un-REGISTER's answer.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(3);

/// Stops the registration loop and un-registers.
pub struct RegistrationTask {
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

impl RegistrationTask {
    pub async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(UNREGISTER_TIMEOUT * 2, self.done)
            .await
            .ok();
    }
}

fn reason_for(code: u16) -> String {
    match code {
        401 | 403 | 407 => {
            format!("{code}: the registrar refused the credentials (check user and password)")
        }
        404 => "404: the registrar does not know this user".into(),
        423 => "423: the registrar wants a longer expiry".into(),
        _ => format!("{code}: the registrar refused"),
    }
}

/// How one REGISTER attempt ended.
#[derive(Debug)]
enum Attempt {
    /// A 2xx: the binding holds for another expiry window.
    Registered(u16),
    /// A final answer other than 2xx.
    Rejected(u16),
    /// No answer: rsipstack's transaction or transport error, in its words.
    Failed(String),
    /// The registrar's address answered ICMP: a 503 (RFC 3261 §8.1.3.1).
    Unreachable(Unreachable),
}

impl Attempt {
    fn from_result(result: rsipstack::Result<rsipstack::sip::Response>) -> Attempt {
        match result {
            Ok(response) if response.status_code.kind() == StatusCodeKind::Successful => {
                Attempt::Registered(response.status_code.code())
            }
            Ok(response) => Attempt::Rejected(response.status_code.code()),
            Err(error) => Attempt::Failed(error.to_string()),
        }
    }

    fn succeeded(&self) -> bool {
        matches!(self, Attempt::Registered(_))
    }

    /// The `sip.registration` event saying so (the caller adds `expires`
    /// or `retry_in`).
    fn event(&self, registrar: &str) -> RegistrationEvent {
        let (state, code, reason) = match self {
            Attempt::Registered(code) => ("registered", Some(*code), None),
            Attempt::Rejected(code) => ("failed", Some(*code), Some(reason_for(*code))),
            Attempt::Failed(error) => ("failed", None, Some(error.clone())),
            Attempt::Unreachable(report) => ("failed", Some(503), Some(report.reason())),
        };
        RegistrationEvent {
            state: state.into(),
            registrar: registrar.to_owned(),
            code,
            reason,
            ..Default::default()
        }
    }
}

/// The wait before the next REGISTER: rsipstack's `keep_alive` rule, the
/// refresh after a success, else its back-off (1 s doubling, capped at
/// 60 s: the SDK's `Backoff::SIP_REGISTER`, the same figures) for
/// `failures` failures in a row.
fn next_wait(failures: u32, refresh: Duration) -> Duration {
    match failures {
        0 => refresh,
        n => Backoff::SIP_REGISTER.ceiling(n - 1),
    }
}

/// When to refresh: at 75 % (at least 1 s) of the expiry the registrar
/// granted, or of the one asked for when it said none (or 0), as
/// rsipstack's `keep_alive` does (RFC 3261 §10.2.4: it may grant less).
fn refresh_after(granted: Option<u32>, asked: u32) -> Duration {
    refresh_interval(granted.filter(|g| *g > 0).unwrap_or(asked))
}

impl Agent {
    pub fn start_registration(self: &Arc<Self>) -> Option<RegistrationTask> {
        let registrar = self.config.registrar.clone()?;
        let server = parse_target(&registrar).ok()?;
        let stop = CancellationToken::new();
        let schedule = Schedule::from_setting(self.config.keepalive_secs);
        tokio::spawn(
            self.clone()
                .keep_alive(server.clone(), schedule, stop.child_token()),
        );
        let task = self
            .clone()
            .keep_registered(registrar, server, stop.clone());
        Some(RegistrationTask {
            stop,
            done: tokio::spawn(task),
        })
    }

    /// REGISTER now, then refresh before expiry or back off after a
    /// failure, until `stop`; then un-REGISTER if registered.
    async fn keep_registered(
        self: Arc<Self>,
        registrar: String,
        server: Uri,
        stop: CancellationToken,
    ) {
        let expires = self.config.expires;
        let mut registration = Registration::new(self.endpoint.clone(), self.credential.clone());
        let event = |state: &str| RegistrationEvent {
            state: state.into(),
            registrar: registrar.clone(),
            ..Default::default()
        };
        self.set_registration("registering");
        self.host.publish(&event("registering"));
        let mut failures = 0u32;
        let mut refresh = refresh_after(None, expires);
        // Stopped with a REGISTER in flight, which the registrar may have
        // taken: its binding is removed too.
        let mut stopped_in_flight = false;
        loop {
            // Shutdown waits neither for an attempt in flight (up to Timer
            // F, 32 s) nor, below, for the next one.
            let attempt = tokio::select! {
                _ = stop.cancelled() => {
                    stopped_in_flight = true;
                    break;
                }
                attempt = self.register_once(&mut registration, &server) => attempt,
            };
            let mut update = attempt.event(&registrar);
            if attempt.succeeded() {
                self.learn_public_address(&registration, &server);
                failures = 0;
                refresh = refresh_after(registration.granted_expires, expires);
                update.expires = Some(expires);
            } else {
                failures = failures.saturating_add(1);
            }
            let wait = next_wait(failures, refresh);
            if failures > 0 {
                update.retry_in = Some(wait.as_secs_f64());
                log::warn!(
                    "registration at {registrar} failed ({}); retrying in {:.0} s",
                    update.reason.as_deref().unwrap_or("?"),
                    wait.as_secs_f64()
                );
            } else {
                log::info!("registered at {registrar}");
            }
            self.set_registration(update.state.as_str());
            self.host.publish(&update);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = self.flow_failed.notified(), if failures == 0 => {
                    log::info!(
                        "the way to {registrar} failed (a keep-alive went unanswered or the \
                         registrar sees us at another address): registering again now"
                    );
                }
            }
        }
        // Shutting down: take our binding off the registrar.
        if stopped_in_flight || self.status().registration == "registered" {
            let unregister = registration.register(server, Some(0));
            let ok = matches!(
                tokio::time::timeout(UNREGISTER_TIMEOUT, unregister).await,
                Ok(Ok(r)) if r.status_code.kind() == StatusCodeKind::Successful
            );
            log::info!(
                "unregistered from {registrar}{}",
                if ok { "" } else { " (no answer)" }
            );
        }
        self.set_registration("unregistered");
        self.host.publish(&event("unregistered"));
    }

    /// One REGISTER, ended early by an ICMP report about where it went;
    /// sent again at once without outbound when the registrar refused it
    /// (`outbound.rs`).
    async fn register_once(&self, registration: &mut Registration, server: &Uri) -> Attempt {
        loop {
            if let Some(contact) = self.register_contact(registration, server).await {
                registration.contact = Some(contact);
            }
            let mut watch = self.watch(server).await;
            let register = registration.register(server.clone(), Some(self.config.expires));
            let result = tokio::select! {
                result = register => result,
                report = watch.refusal() => {
                    log::debug!("REGISTER to {server} ended early: {}", report.reason());
                    return Attempt::Unreachable(report);
                }
            };
            if let Ok(response) = &result {
                let code = response.status_code.code();
                if response.status_code.kind() == StatusCodeKind::Successful {
                    self.outbound.registered(response);
                } else if self.outbound.refused(code) {
                    continue;
                }
            }
            return Attempt::from_result(result);
        }
    }
}

/// The Contact of a REGISTER over `transport`, at `host`: rsipstack's
/// choice of address, with the `;transport=` it leaves out of TCP and TLS
/// ones, and `outbound`'s parameters (`reg-id`, `+sip.instance`).
fn register_contact(
    user: &str,
    host: HostWithPort,
    transport: Transport,
    outbound: Vec<Param>,
) -> Contact {
    let params = match transport {
        Transport::Udp => vec![],
        other => vec![Param::Transport(other)],
    };
    Contact {
        display_name: None,
        uri: Uri {
            scheme: Some(Scheme::Sip),
            auth: Some(Auth {
                user: user.to_owned(),
                password: None,
            }),
            host_with_port: host,
            params,
            headers: vec![],
        },
        params: outbound,
    }
}

impl Agent {
    /// Keeps what the registrar's answer showed of a NAT (RFC 3581
    /// `received`/`rport`, which rsipstack reads): calls through it then
    /// name that address in Contact and SDP (`transport/public.rs`).
    fn learn_public_address(&self, registration: &Registration, server: &Uri) {
        let transport = crate::uri::transport_of(server).unwrap_or(Transport::Udp);
        let seen = registration.discovered_public_address().and_then(|seen| {
            Some(Seen {
                ip: crate::uri::host_ip(&seen.host)?,
                port: seen.port.map(u16::from),
                transport,
            })
        });
        self.learned_public_address(seen);
    }

    /// Keeps where the registrar sees us (from a REGISTER's answer or a
    /// keep-alive's), saying so when it changed; answers whether it did.
    pub fn learned_public_address(&self, seen: Option<Seen>) -> bool {
        let changed = self.public.learn(seen);
        if changed {
            match seen.filter(|_| self.public.toward(None, true).is_some()) {
                Some(seen) => log::info!(
                    "the registrar sees us at {}{} ({}), not at an address of ours: \
                     calls through it name that address",
                    seen.ip,
                    seen.port.map(|p| format!(":{p}")).unwrap_or_default(),
                    seen.transport
                ),
                None => log::info!("the registrar sees us at an address of ours again"),
            }
        }
        changed
    }

    /// The Contact for a REGISTER to `server`, as rsipstack would make it
    /// (the address the registrar saw, `received`/`rport`, once learned;
    /// else the local end of the connection over TCP and TLS, the Via's
    /// address over UDP), plus what it leaves out: `;transport=` over TCP
    /// and TLS (without it a proxy sends the INVITEs for us over UDP to
    /// that TCP port, where nothing answers: a 408 for the caller), and
    /// RFC 5626's `reg-id` and `+sip.instance`. rsipstack keeps both
    /// through a digest challenge, moving only the address.
    async fn register_contact(&self, registration: &Registration, server: &Uri) -> Option<Contact> {
        let transport = crate::uri::transport_of(server).unwrap_or(Transport::Udp);
        let host = match registration.discovered_public_address() {
            Some(public) => public,
            None => {
                let target = SipAddr {
                    r#type: Some(transport),
                    addr: server.host_with_port.clone(),
                };
                let layer = &self.endpoint.transport_layer;
                let (connection, resolved) = layer.lookup(&target, None).await.ok()?;
                let to = resolved.get_socketaddr().ok().map(|a| a.ip());
                match transport {
                    // Our UDP socket of the registrar's family, when we
                    // listen on both (decision 0075).
                    Transport::Udp if self.is_dual_stack() => {
                        self.own_toward(Transport::Udp, to)?.into()
                    }
                    Transport::Udp => {
                        let via = self
                            .endpoint
                            .get_via(Some(connection.get_addr().clone()), None)
                            .ok()?;
                        via.uri.host_with_port
                    }
                    _ => connection.get_addr().addr.clone(),
                }
            }
        };
        let user = self
            .credential
            .as_ref()
            .map_or(self.config.user.as_str(), |c| c.username.as_str());
        Some(register_contact(
            user,
            host,
            transport,
            self.outbound.contact_params(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transport::icmp::tests::refused;

    #[test]
    fn a_stream_registers_its_contact_with_its_transport() {
        let host = HostWithPort::try_from("127.0.0.1:40000").unwrap();
        let tcp = register_contact("alice", host.clone(), Transport::Tcp, vec![]);
        assert_eq!(
            tcp.to_string().to_ascii_lowercase(),
            "<sip:alice@127.0.0.1:40000;transport=tcp>"
        );
        let tls = register_contact("alice", host.clone(), Transport::Tls, vec![]);
        assert!(tls
            .to_string()
            .to_ascii_lowercase()
            .ends_with(";transport=tls>"));
        let (outbound, _) = crate::ua::outbound::Outbound::new(true, None);
        let udp = register_contact("alice", host, Transport::Udp, outbound.contact_params());
        let udp = udp.to_string();
        assert!(
            udp.starts_with("<sip:alice@127.0.0.1:40000>;reg-id=1;+sip.instance=\"<urn:uuid:"),
            "{udp}"
        );
    }

    #[test]
    fn after_a_success_the_refresh_after_failures_the_doubling_back_off() {
        let refresh = Duration::from_secs(450);
        assert_eq!(next_wait(0, refresh), refresh);
        assert_eq!(next_wait(1, refresh), Duration::from_secs(1));
        assert_eq!(next_wait(2, refresh), Duration::from_secs(2));
        assert_eq!(next_wait(3, refresh), Duration::from_secs(4));
        assert_eq!(next_wait(u32::MAX, refresh), Duration::from_secs(60));
    }

    #[test]
    fn the_refresh_is_three_quarters_of_the_granted_expiry_with_a_floor() {
        assert_eq!(refresh_after(Some(600), 3600), Duration::from_secs(450));
        assert_eq!(refresh_after(None, 3600), Duration::from_secs(2700));
        assert_eq!(refresh_after(Some(0), 600), Duration::from_secs(450));
        assert_eq!(refresh_after(Some(1), 600), Duration::from_secs(1));
        assert_eq!(refresh_after(None, 0), Duration::from_secs(1));
    }

    #[test]
    fn an_icmp_refusal_is_reported_as_a_failed_503_with_the_reason() {
        let event = Attempt::Unreachable(refused("127.0.0.1:5070")).event("sip:127.0.0.1:5070");
        assert_eq!(event.state, "failed");
        assert_eq!(event.code, Some(503));
        assert_eq!(event.registrar, "sip:127.0.0.1:5070");
        let reason = event.reason.unwrap_or_default();
        assert!(reason.starts_with("127.0.0.1 answered ICMP"), "{reason}");
    }

    #[test]
    fn other_outcomes_keep_their_events() {
        let ok = Attempt::Registered(200).event("r");
        assert_eq!(
            (ok.state.as_str(), ok.code, ok.reason),
            ("registered", Some(200), None)
        );
        let refused = Attempt::Rejected(403).event("r");
        assert_eq!(
            (refused.state.as_str(), refused.code),
            ("failed", Some(403))
        );
        assert!(refused.reason.unwrap_or_default().contains("credentials"));
        let timeout = Attempt::Failed("timed out".into()).event("r");
        assert_eq!(
            (
                timeout.state.as_str(),
                timeout.code,
                timeout.reason.as_deref()
            ),
            ("failed", None, Some("timed out"))
        );
    }
}
