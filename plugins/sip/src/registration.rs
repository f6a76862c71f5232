//! REGISTER with digest auth, refreshed before expiry, retried with
//! back-off on failure, and removed on shutdown. Every state change is a
//! `sip.registration` event.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::registration::{backoff_interval, RefreshOutcome, Registration};
use rsipstack::sip::StatusCodeKind;
use tandem_sdk::events::sip::Registration as RegistrationEvent;
use tandem_sdk::tokio;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
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

impl Agent {
    pub fn start_registration(self: &Arc<Self>) -> Option<RegistrationTask> {
        let registrar = self.config.registrar.clone()?;
        let server = parse_target(&registrar).ok()?;
        let stop = CancellationToken::new();
        let agent = self.clone();
        let token = stop.clone();
        let done = tokio::spawn(async move {
            let mut registration =
                Registration::new(agent.endpoint.clone(), agent.credential.clone());
            let event = |state: &str| RegistrationEvent {
                state: state.to_owned(),
                registrar: registrar.clone(),
                ..Default::default()
            };
            agent.set_registration("registering");
            agent.host.publish(&event("registering"));
            let mut failures = 0u32;
            registration
                .keep_alive(server.clone(), agent.config.expires, token, |outcome| {
                    let mut update = event("registered");
                    match outcome {
                        RefreshOutcome::Registered(response) => {
                            failures = 0;
                            update.code = Some(response.status_code.code());
                            update.expires = Some(agent.config.expires);
                        }
                        RefreshOutcome::Rejected(response) => {
                            failures += 1;
                            let code = response.status_code.code();
                            update.state = "failed".into();
                            update.code = Some(code);
                            update.reason = Some(reason_for(code));
                        }
                        RefreshOutcome::Failed(error) => {
                            failures += 1;
                            update.state = "failed".into();
                            update.reason = Some(error.to_string());
                        }
                    }
                    if failures > 0 {
                        update.retry_in = Some(backoff_interval(failures - 1).as_secs_f64());
                        log::warn!(
                            "registration at {registrar} failed ({}); retrying in {:.0} s",
                            update.reason.as_deref().unwrap_or("?"),
                            update.retry_in.unwrap_or_default()
                        );
                    } else {
                        log::info!("registered at {registrar}");
                    }
                    agent.set_registration(&update.state);
                    agent.host.publish(&update);
                })
                .await;
            // Shutting down: take our binding off the registrar.
            if agent.status().registration == "registered" {
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
            agent.set_registration("unregistered");
            agent.host.publish(&event("unregistered"));
        });
        Some(RegistrationTask { stop, done })
    }
}
