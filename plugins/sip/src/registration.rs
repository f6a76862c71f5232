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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::registration::{backoff_interval, refresh_interval, Registration};
use rsipstack::sip::transport::Transport;
use rsipstack::sip::{StatusCodeKind, Uri};
use rsipstack::transport::SipAddr;
use tandem_sdk::events::sip::Registration as RegistrationEvent;
use tandem_sdk::tokio;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::unreachable::Unreachable;
use crate::uri::{parse_target, transport_of};

/// How long shutdown waits for the un-REGISTER's answer.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(3);

/// How long looking up the registrar's address may delay an attempt (as a
/// call's lookup, `outgoing.rs`); past it the attempt goes out unwatched.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(4);

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
            state: state.to_owned(),
            registrar: registrar.to_owned(),
            code,
            reason,
            ..Default::default()
        }
    }
}

/// The wait before the next REGISTER: rsipstack's `keep_alive` rule, the
/// refresh after a success, else its back-off (1 s doubling, capped) for
/// `failures` failures in a row.
fn next_wait(failures: u32, refresh: Duration) -> Duration {
    match failures {
        0 => refresh,
        n => backoff_interval(n - 1),
    }
}

/// When to refresh: at 75 % (at least 1 s) of the expiry the registrar
/// granted, or of the one asked for when it said none (or 0), as
/// rsipstack's `keep_alive` does (RFC 3261 §10.2.4: it may grant less).
fn refresh_after(granted: Option<u32>, asked: u32) -> Duration {
    refresh_interval(granted.filter(|g| *g > 0).unwrap_or(asked))
}

/// The first report about `watched`: never, when nothing is watched or the
/// reports stop. Reports missed to a lag are lost, not an end: the attempt
/// then fails by Timer F, as before.
async fn refusal(
    reports: &mut broadcast::Receiver<Unreachable>,
    watched: Option<SocketAddr>,
) -> Unreachable {
    if let Some(watched) = watched {
        loop {
            match reports.recv().await {
                Ok(report) if report.concerns(watched) => return report,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    }
    std::future::pending().await
}

/// Forgets the reports that came before this attempt: they are about
/// earlier datagrams.
fn drain(reports: &mut broadcast::Receiver<Unreachable>) {
    while !matches!(
        reports.try_recv(),
        Err(TryRecvError::Empty | TryRecvError::Closed)
    ) {}
}

impl Agent {
    pub fn start_registration(self: &Arc<Self>) -> Option<RegistrationTask> {
        let registrar = self.config.registrar.clone()?;
        let server = parse_target(&registrar).ok()?;
        let stop = CancellationToken::new();
        // Subscribed before the first REGISTER leaves: no report is missed.
        let reports = self.unreachable.subscribe();
        let task = self
            .clone()
            .keep_registered(registrar, server, stop.clone(), reports);
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
        mut reports: broadcast::Receiver<Unreachable>,
    ) {
        let expires = self.config.expires;
        let mut registration = Registration::new(self.endpoint.clone(), self.credential.clone());
        let event = |state: &str| RegistrationEvent {
            state: state.to_owned(),
            registrar: registrar.clone(),
            ..Default::default()
        };
        self.set_registration("registering");
        self.host.publish(&event("registering"));
        let mut failures = 0u32;
        let mut refresh = refresh_after(None, expires);
        loop {
            // Shutdown waits neither for an attempt in flight (up to Timer
            // F, 32 s) nor, below, for the next one.
            let attempt = tokio::select! {
                _ = stop.cancelled() => break,
                attempt = self.register_once(&mut registration, &server, &mut reports) => attempt,
            };
            let mut update = attempt.event(&registrar);
            if attempt.succeeded() {
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
            self.set_registration(&update.state);
            self.host.publish(&update);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // Shutting down: take our binding off the registrar.
        if self.status().registration == "registered" {
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

    /// One REGISTER (with its digest retry), ended early when the
    /// registrar's address answers ICMP.
    async fn register_once(
        &self,
        registration: &mut Registration,
        server: &Uri,
        reports: &mut broadcast::Receiver<Unreachable>,
    ) -> Attempt {
        let watched = self.registrar_udp_address(server).await;
        drain(reports);
        let register = registration.register(server.clone(), Some(self.config.expires));
        tokio::select! {
            result = register => Attempt::from_result(result),
            report = refusal(reports, watched) => {
                log::debug!("REGISTER to {server} ended early: {}", report.reason());
                Attempt::Unreachable(report)
            }
        }
    }

    /// Where a REGISTER to `server` goes, when it goes over UDP: looked up
    /// from the same target as rsipstack's transaction (the Request-URI,
    /// RFC 3263 for a domain), through the same resolver, as a call's
    /// INVITE is (`outgoing.rs`). `None` for TCP and TLS, whose connect
    /// errors fail the attempt already, and when the lookup fails or hangs:
    /// the REGISTER then says why, or ends by Timer F.
    async fn registrar_udp_address(&self, server: &Uri) -> Option<SocketAddr> {
        if !matches!(transport_of(server), None | Some(Transport::Udp)) {
            return None;
        }
        let target = SipAddr::try_from(server).ok()?;
        let layer = &self.endpoint.transport_layer;
        match tokio::time::timeout(LOOKUP_TIMEOUT, layer.lookup(&target, None)).await {
            Ok(Ok((_, resolved))) => resolved.get_socketaddr().ok(),
            Ok(Err(e)) => {
                log::debug!("registrar {server} not looked up: {e}");
                None
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(destination: &str) -> Unreachable {
        Unreachable {
            destination: destination.parse().unwrap(),
            error: libc::ECONNREFUSED,
        }
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

    #[tokio::test]
    async fn only_a_report_about_the_watched_address_ends_the_wait() {
        let (sender, mut reports) = broadcast::channel(8);
        sender.send(refused("127.0.0.1:5071")).unwrap();
        sender.send(refused("[::ffff:127.0.0.1]:5070")).unwrap();
        let watched = Some("127.0.0.1:5070".parse().unwrap());
        let found = tokio::time::timeout(Duration::from_secs(5), refusal(&mut reports, watched))
            .await
            .expect("the second report is about the registrar");
        assert_eq!(found, refused("[::ffff:127.0.0.1]:5070"));
    }

    #[tokio::test]
    async fn with_nothing_watched_or_no_sender_the_wait_never_ends() {
        let (sender, mut reports) = broadcast::channel(8);
        sender.send(refused("127.0.0.1:5070")).unwrap();
        let unwatched =
            tokio::time::timeout(Duration::from_millis(50), refusal(&mut reports, None));
        assert!(unwatched.await.is_err());
        drop(sender);
        // The report still queued is about another address; then the end.
        let watched = Some("127.0.0.1:5071".parse().unwrap());
        let closed =
            tokio::time::timeout(Duration::from_millis(50), refusal(&mut reports, watched));
        assert!(closed.await.is_err());
    }

    #[test]
    fn reports_from_before_an_attempt_are_forgotten() {
        let (sender, mut reports) = broadcast::channel(2);
        for port in 5070..5075 {
            sender.send(refused(&format!("127.0.0.1:{port}"))).unwrap();
        }
        drain(&mut reports);
        assert!(matches!(reports.try_recv(), Err(TryRecvError::Empty)));
        sender.send(refused("127.0.0.1:5080")).unwrap();
        assert_eq!(reports.try_recv().unwrap(), refused("127.0.0.1:5080"));
    }
}
