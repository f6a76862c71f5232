//! When the next login may be tried. Shared by every client the session
//! makes, so that:
//!
//! - a refused login is tried again only a few times, minutes apart, then
//!   not at all until the user acts (`xmpp.reconnect`, or a restart with a
//!   new config): a wrong password must not trip the server's fail2ban
//!   (ejabberd's `mod_fail2ban`: 20 failures, then the IP is banned for
//!   an hour — the user's own client with it);
//! - only the newest client connects: tokio-xmpp's reconnect loop of a
//!   client the session replaced keeps running until it connects once, so
//!   each replaced client's loop is parked here for good (`Retired`)
//!   instead of logging in beside the new one.
//!
//! Network failures keep their jittered back-off (`crate::backoff`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tandem_sdk::events::xmpp::Connection;
use tandem_sdk::Host;
use tokio::sync::watch;

use super::error::{Kind, LoginError};

/// How refused logins are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Logins refused in a row before giving up (the first included).
    pub auth_tries: u32,
    /// Wait after a refused login before the next.
    pub auth_wait: Duration,
    /// Network back-off: base and ceiling.
    pub base: Duration,
    pub max: Duration,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    refused: u32,
    /// Why the last login was refused, while it holds.
    refusal: Option<String>,
    gave_up: bool,
    network_failures: u32,
    /// Why the last connection failed, when a person can act on it (the
    /// server's certificate), until a login succeeds.
    failure: Option<String>,
    /// No attempt before this.
    not_before: Option<Instant>,
    /// When the newest client's login attempt began, while it runs.
    attempt_since: Option<Instant>,
    /// The server was asked to create the account (`register`), since the
    /// last login that succeeded.
    creation_asked: bool,
}

pub struct Gate {
    host: Host,
    retry: Retry,
    state: Mutex<State>,
    /// Bumped on every change that may let a waiting attempt go.
    epoch: watch::Sender<u64>,
    /// The SHA-256 of the certificate the server showed last (kept apart
    /// from `state`, which a successful login clears).
    certificate: Mutex<Option<String>>,
}

/// What a client's connector may do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Go,
    /// A newer client exists: never connect again.
    Retired,
}

/// Why the session is not online, for `xmpp.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub reason: String,
    /// No more tries until the user acts.
    pub gave_up: bool,
}

impl Gate {
    pub fn new(host: Host, retry: Retry) -> Gate {
        Gate {
            host,
            retry,
            state: Mutex::new(State::default()),
            epoch: watch::channel(0).0,
            certificate: Mutex::new(None),
        }
    }

    /// The server showed a certificate with this fingerprint (None: TLS
    /// ended before it showed one).
    pub fn saw_certificate(&self, fingerprint: Option<String>) {
        if fingerprint.is_some() {
            *self.certificate.lock().unwrap() = fingerprint;
        }
    }

    /// The fingerprint of the certificate the server showed last, as
    /// `pin_sha256` takes it.
    pub fn certificate(&self) -> Option<String> {
        self.certificate.lock().unwrap().clone()
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    fn bump(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// A new client is being made: older ones retire. Answers its
    /// generation.
    pub fn new_generation(&self) -> u64 {
        let generation = {
            let mut state = self.state.lock().unwrap();
            state.generation += 1;
            state.attempt_since = None;
            state.generation
        };
        self.bump();
        generation
    }

    pub fn is_retired(&self, generation: u64) -> bool {
        self.state.lock().unwrap().generation != generation
    }

    /// Resolves once `generation` is retired.
    pub async fn retired(&self, generation: u64) {
        let mut epoch = self.epoch.subscribe();
        while !self.is_retired(generation) {
            if epoch.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Waits until client `generation` may try to log in.
    pub async fn admit(&self, generation: u64) -> Admit {
        let mut epoch = self.epoch.subscribe();
        loop {
            epoch.borrow_and_update();
            let until = {
                let state = self.state.lock().unwrap();
                if state.generation != generation {
                    return Admit::Retired;
                }
                match (state.gave_up, state.not_before) {
                    (true, _) => None,
                    (false, Some(at)) if at > Instant::now() => Some(at),
                    (false, _) => return Admit::Go,
                }
            };
            let changed = match until {
                Some(at) => tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => Ok(()),
                    changed = epoch.changed() => changed,
                },
                None => epoch.changed().await,
            };
            if changed.is_err() {
                return Admit::Retired;
            }
        }
    }

    /// Why the last connection failed, in plain words, when it was
    /// something a person can act on.
    pub fn failure(&self) -> Option<String> {
        self.state.lock().unwrap().failure.clone()
    }

    /// The newest client began a login (connect, TLS, SASL).
    pub fn attempting(&self) {
        self.state.lock().unwrap().attempt_since = Some(Instant::now());
    }

    /// Whether a login began less than `grace` ago and has not ended: the
    /// session's watchdog lets it finish rather than start a second one
    /// beside it (seen with ejabberd just back: both authenticated, and a
    /// server counts each).
    pub fn attempt_under_way(&self, grace: Duration) -> bool {
        let state = self.state.lock().unwrap();
        state.attempt_since.is_some_and(|t| t.elapsed() < grace)
    }

    /// Logged in. The attempt stays under way until the session is
    /// bound (`online`): between SASL success and the resource binding the
    /// session's watchdog must not replace the client (seen on a loaded
    /// machine: replaced 5 ms after its login, so the server counted two).
    pub fn succeeded(&self) {
        let mut state = self.state.lock().unwrap();
        *state = State {
            generation: state.generation,
            attempt_since: state.attempt_since,
            ..State::default()
        };
    }

    /// The session is online: no attempt is under way any more.
    pub fn online(&self) {
        self.state.lock().unwrap().attempt_since = None;
    }

    /// The connection failed before or outside SASL. A failure a person
    /// can act on (the server's certificate) is said once in plain words,
    /// and kept for `xmpp.status`.
    pub fn network_failed(&self, error: &tokio_xmpp::Error, domain: &str) {
        let said =
            crate::certificate::refusal(error, domain).map(|said| match self.certificate() {
                Some(shown) => format!(
                    "{said}. The server showed the certificate with SHA-256 {shown}: if the \
                 server's own certificate has that fingerprint, pin_sha256 = \"{shown}\" trusts it"
                ),
                None => said,
            });
        let mut state = self.state.lock().unwrap();
        if said.is_some() && said != state.failure {
            self.host.error(said.as_deref().unwrap_or_default());
        }
        state.failure = said;
        let wait = tandem_sdk::util::backoff::delay(
            state.network_failures,
            self.retry.base,
            self.retry.max,
        );
        state.network_failures = state.network_failures.saturating_add(1);
        state.not_before = Some(Instant::now() + wait);
        state.attempt_since = None;
    }

    /// The login was refused (or no mechanism fits): logs it plainly,
    /// and decides whether there will be another try.
    pub fn refused(&self, error: &LoginError) {
        let kind = error.kind().unwrap_or(Kind::Server);
        let (reason, gave_up) = {
            let mut state = self.state.lock().unwrap();
            state.refused = state.refused.saturating_add(1);
            state.gave_up = !kind.retryable() || state.refused >= self.retry.auth_tries.max(1);
            let reason = if state.gave_up {
                format!(
                    "login failed: {error}. Not trying again (login refused {} time(s)) until \
                     the config changes (restart) or `tandem ctl reconnect`",
                    state.refused
                )
            } else {
                format!(
                    "login failed: {error}. Trying again in {} s ({} of {} tries)",
                    self.retry.auth_wait.as_secs(),
                    state.refused,
                    self.retry.auth_tries
                )
            };
            state.refusal = Some(reason.clone());
            state.not_before = Some(Instant::now() + self.retry.auth_wait);
            state.attempt_since = None;
            (reason, state.gave_up)
        };
        if gave_up {
            self.host.error(&reason);
        } else {
            self.host.warn(&reason);
        }
        self.host.publish(&Connection {
            state: "auth_failed".into(),
            jid: None,
            reason: Some(reason),
        });
        self.bump();
    }

    /// Whether the server may be asked to create the account now: once,
    /// until a login succeeds or the user asks for a reconnection, so a
    /// server that refuses is not asked at every reconnection.
    pub fn may_create_account(&self) -> bool {
        !std::mem::replace(&mut self.state.lock().unwrap().creation_asked, true)
    }

    /// Forget refusals: try now (`xmpp.reconnect`).
    pub fn reset(&self) {
        self.succeeded();
        self.bump();
    }

    /// Why logins are held back, if they are.
    pub fn holding(&self) -> Option<Holding> {
        let state = self.state.lock().unwrap();
        state.refusal.as_ref().map(|reason| Holding {
            reason: reason.clone(),
            gave_up: state.gave_up,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        let retry = Retry {
            auth_tries: 3,
            auth_wait: Duration::from_secs(300),
            base: Duration::from_secs(1),
            max: Duration::from_secs(2),
        };
        Gate::new(tandem_sdk::testing::MockHost::new().host(), retry)
    }

    #[test]
    fn a_login_is_under_way_from_its_start_until_it_fails_is_bound_or_its_client_is_replaced() {
        let gate = gate();
        let grace = Duration::from_secs(10);
        assert!(!gate.attempt_under_way(grace));
        gate.new_generation();
        gate.attempting();
        assert!(gate.attempt_under_way(grace));
        assert!(!gate.attempt_under_way(Duration::ZERO), "past its grace");
        gate.network_failed(&tokio_xmpp::Error::Disconnected, "example.org");
        assert!(!gate.attempt_under_way(grace));
        assert_eq!(gate.failure(), None, "nothing a person can act on");
        gate.attempting();
        gate.succeeded();
        assert!(gate.attempt_under_way(grace), "logged in, not yet bound");
        gate.online();
        assert!(!gate.attempt_under_way(grace));
        gate.attempting();
        gate.new_generation();
        assert!(!gate.attempt_under_way(grace), "the replaced client's");
    }
}
