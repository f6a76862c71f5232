//! The link to the server: sending (now, or queued while offline),
//! liveness (pings, and replacing a client that is stuck, with back-off),
//! what a lost connection and a new session mean for what is remembered,
//! and the XEP-0198 queue of messages the server has not acknowledged.
//! The lowest part of the session: it calls no other part.

use std::time::{Duration, Instant};

use tandem_sdk::events::xmpp::{Connection, ContactPresence, OwnPresence};
use tokio_xmpp::stanzastream::StanzaState;
use tokio_xmpp::{IqRequest, IqResponse, IqResponseToken, Stanza};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::presence as xp;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::state::{Request, Session};

/// How long handing a stanza to the client may take before the client is
/// considered stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a login under way may delay the watchdog's replacement of its
/// client: TLS and SASL take well under this, even on a slow server.
const LOGIN_GRACE: Duration = Duration::from_secs(10);

/// Stanzas kept while offline, oldest dropped first beyond this.
pub(super) const OFFLINE_QUEUE: usize = 1024;

impl Session {
    /// Pings the server when online; when down for too long, replaces the
    /// client. tokio-xmpp reconnects by itself, but a client can get stuck
    /// (seen: a server that answers a resumption with `<failed/>` without
    /// `h` makes it reconnect in a tight loop), so the sidecar watches.
    pub(super) async fn check_liveness(&mut self, period: Duration) {
        if self.bound.is_some() {
            let ping = xmpp_parsers::minidom::Element::builder("ping", ns::PING).build();
            let to = Jid::from(self.account.domain().to_owned());
            // A stuck client stops taking stanzas: waiting must not hang us.
            let Ok(token) =
                tokio::time::timeout(period, self.client.send_iq(Some(to), IqRequest::Get(ping)))
                    .await
            else {
                return self.went_down("the client stopped taking stanzas");
            };
            let tx = self.liveness.0.clone();
            tokio::spawn(async move {
                let answered = tokio::time::timeout(period, token).await;
                let alive = matches!(answered, Ok(Ok(_)));
                let _ = tx.send(alive).await;
            });
            return;
        }
        let Some(since) = self.down_since else { return };
        if self.gate.holding().is_some() {
            return; // a refused login: the gate says when to try again
        }
        let wait = tandem_sdk::util::backoff::delay(
            self.replaced,
            Duration::from_secs(self.config.reconnect_base_seconds.max(1)),
            Duration::from_secs(self.config.reconnect_max_seconds.max(1)),
        )
        .max(period * 2);
        if since.elapsed() >= wait {
            // A login under way (the server is just back) gets to finish:
            // replacing its client now would log in twice. A client stuck
            // in a loop of attempts is still replaced, `LOGIN_GRACE` later.
            if self.gate.attempt_under_way(LOGIN_GRACE) && since.elapsed() < wait + LOGIN_GRACE {
                return;
            }
            self.replaced = self.replaced.saturating_add(1);
            self.host.warn(&format!(
                "no connection for {:.0} s: starting a fresh one (attempt {})",
                since.elapsed().as_secs_f64(),
                self.replaced
            ));
            let old = std::mem::replace(
                &mut self.client,
                crate::connect::new_client(&self.config, self.roots.clone(), &self.gate),
            );
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), old.send_end()).await;
            });
            self.down_since = Some(Instant::now());
        }
    }

    /// The connection is gone: rules hear it. What was known of who is
    /// online, and the messages the server has not acknowledged, wait for
    /// the next `Online`: a resumed session (XEP-0198) keeps both, a new
    /// one loses both (`new_session`).
    pub(super) fn went_down(&mut self, why: &str) {
        if self.bound.take().is_some() {
            self.host.warn(&format!(
                "{}: connection lost: {why}; reconnecting",
                self.account
            ));
            // Rules follow the sidecar's connection, not the bridge's.
            if let super::state::Role::Sidecar { .. } = self.role {
                self.host.publish(&Connection {
                    state: "offline".into(),
                    jid: None,
                    reason: Some(why.to_owned()),
                });
            }
        }
        self.down_since = Some(Instant::now());
    }

    /// A new session (not a resumed one): the server forgot the old one.
    /// Messages it had not acknowledged are queued again. It sends the
    /// presence of everyone online now, after ours; whoever is not among
    /// them left while the sidecar was away, and nobody else will say so,
    /// so each client and contact remembered is reported gone first (a
    /// rule must not keep "Gajim is on Do Not Disturb" for a Gajim that
    /// quit meanwhile).
    pub(super) fn new_session(&mut self) {
        for (message, token) in self.unacked.drain(..).rev() {
            if !matches!(token.state(), StanzaState::Acked { .. }) {
                self.offline.push_front(message.into());
            }
        }
        for jid in std::mem::take(&mut self.own).into_keys() {
            self.host.publish(&OwnPresence {
                jid,
                presence: None,
            });
        }
        for jid in self.contacts.offline() {
            self.host.publish(&ContactPresence {
                jid,
                ..ContactPresence::default()
            });
        }
        self.caps.offline();
    }

    /// Sends what was queued while offline. Taken out first: should the
    /// connection go down again meanwhile, `send` queues the rest again,
    /// in order, for the next connection (popping from the queue `send`
    /// pushes onto would never end).
    pub(super) async fn flush_offline(&mut self) {
        for stanza in std::mem::take(&mut self.offline) {
            self.send(stanza).await;
        }
    }

    pub(super) async fn stop(&mut self) {
        if self.bound.is_some() {
            let _ = self
                .client
                .send_stanza(xp::Presence::unavailable().into())
                .await;
        }
    }

    /// Sends now when online; otherwise queues for the next connection.
    pub(super) async fn send(&mut self, stanza: Stanza) {
        if self.bound.is_some() {
            let copy = match &stanza {
                Stanza::Message(m) => Some(m.clone()),
                _ => None, // presence, Carbons and PEP are re-sent on reconnection anyway
            };
            let sent = tokio::time::timeout(SEND_TIMEOUT, self.client.send_stanza(stanza)).await;
            let Ok(sent) = sent else {
                if let Some(message) = copy {
                    self.offline.push_back(message.into());
                }
                return self.went_down("the client stopped taking stanzas");
            };
            match sent {
                Ok(token) => {
                    // Only a server with XEP-0198 acknowledges: without
                    // it, every message would be sent again after every
                    // reconnection.
                    if let Some(message) = copy.filter(|_| self.stream_management) {
                        self.unacked
                            .retain(|(_, t)| !matches!(t.state(), StanzaState::Acked { .. }));
                        if self.unacked.len() < OFFLINE_QUEUE {
                            self.unacked.push((message, token));
                        }
                    }
                }
                // Fails only when the client itself has shut down.
                Err(e) => self
                    .host
                    .error(&format!("stanza lost, the XMPP client has ended: {e}")),
            }
        } else {
            self.queue(stanza);
        }
    }

    pub(super) fn queue(&mut self, stanza: Stanza) {
        if self.offline.len() == OFFLINE_QUEUE {
            self.offline.pop_front();
            self.host.warn("offline queue full: oldest stanza dropped");
        }
        self.offline.push_back(stanza);
    }

    /// Hands an IQ question to the client, which takes stanzas only when
    /// there is room in its queue: a client that takes none for
    /// `SEND_TIMEOUT` is stuck (as in `send`), and waiting longer would
    /// stop the session from serving, pinging and replacing it.
    pub(super) async fn send_iq(
        &mut self,
        to: Option<Jid>,
        request: IqRequest,
    ) -> Option<IqResponseToken> {
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.client.send_iq(to, request)).await;
        if sent.is_err() {
            self.went_down("the client stopped taking stanzas");
        }
        sent.ok()
    }

    /// Answers an IQ with `payload`, through the request queue (the
    /// caller is not async).
    pub(super) fn reply(&mut self, to: Option<Jid>, id: String, payload: Element) {
        self.reply_stanza(Iq::Result {
            from: None,
            to,
            id,
            payload: Some(payload),
        });
    }

    pub(super) fn reply_stanza(&mut self, answer: Iq) {
        let requests = self.requests.clone();
        tokio::spawn(async move {
            let _ = requests.send(Request::Send(Box::new(answer.into()))).await;
        });
    }

    pub(super) fn reply_error(
        &mut self,
        to: Option<Jid>,
        id: String,
        condition: DefinedCondition,
        text: &str,
    ) {
        let error = StanzaError::new(ErrorType::Modify, condition, "en", text);
        let answer = Iq::from_error(id, error);
        let answer = match to {
            Some(to) => answer.with_to(to),
            None => answer,
        };
        self.reply_stanza(answer);
    }
}

/// The payload of the answer to an IQ we sent, waited for `limit` at most,
/// or why there is none (for the debug log).
pub(super) async fn iq_answer(token: IqResponseToken, limit: Duration) -> Result<Element, String> {
    match tokio::time::timeout(limit, token).await {
        Ok(Ok(IqResponse::Result(Some(element)))) => Ok(element),
        Ok(Ok(IqResponse::Result(None))) => Err("an empty answer".to_owned()),
        Ok(Ok(IqResponse::Error(e))) => {
            Err(crate::convert::stanza_error_name(&e.defined_condition))
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {} s", limit.as_secs())),
    }
}
