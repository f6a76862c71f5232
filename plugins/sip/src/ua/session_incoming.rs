//! An incoming session that is not a call (`sessions.rs`): offered to the
//! plugin that owns its stream with `sip.take_session` before anything
//! else happens. No taker (or one that fails) keeps the old answer, 488;
//! a taker's refusal is answered with its code; a session it keeps rings
//! (180, so proxies' Timer C does not end the INVITE while the user
//! decides) until `sip.session.answer`, `sip.session.reject`, the peer's
//! CANCEL or `ring_timeout_seconds` (480, `missed`).
//!
//! The INVITE has passed the same checks as a call's first (the screen,
//! RFC 3261 §8.2, `accept_from`); only `max_ringing` does not apply: a
//! session is no call.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;
use tandem_sdk::commands::sip_session::{TakeSession, Taken};
use tandem_sdk::events::sip::{Direction, EndReason};
use tandem_sdk::{tokio, CommandType, ErrorKind, Payload};

use crate::guard::origin::Origin;
use crate::ua::agent::Agent;
use crate::ua::calls::new_call_id;
use crate::ua::sessions::{Session, SessionState};
use crate::ua::uas::{caller, refuse, ring, server_dialog, sip_call_id};

/// How long the taker may take to say whether it keeps a session: it
/// answers at once (the person's answer comes later), and the caller
/// hears only `100 Trying` meanwhile.
const TAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the taker made of an offered session.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// Kept: ring, an answer follows.
    Kept,
    /// Refused with this final code.
    Refused(u16),
    /// Nothing took it, and why (no taker, an error, no answer in time).
    NotTaken(String),
}

impl Take {
    /// A taker's reply: a refusal code outside 400..=699 is no final
    /// refusal, so it is answered 488 like an offer nobody can read.
    fn of(taken: Taken) -> Take {
        match taken.refuse {
            None => Take::Kept,
            Some(code) if (400..700).contains(&code) => Take::Refused(code),
            Some(_) => Take::Refused(488),
        }
    }
}

/// Offers `take` to the plugin that takes streams other than audio.
pub async fn offer_to_taker(agent: &Agent, take: &TakeSession) -> Take {
    let Ok(args) = Payload::encode(take) else {
        return Take::NotTaken("the offer could not be encoded".into());
    };
    match agent
        .host
        .call_raw(TakeSession::NAME, args, TAKE_TIMEOUT)
        .await
    {
        Ok(reply) => match reply.decode::<Taken>() {
            Ok(taken) => Take::of(taken),
            Err(e) => Take::NotTaken(format!("its taker answered something else: {e}")),
        },
        Err(e) if e.kind == ErrorKind::UnknownCommand => {
            Take::NotTaken("nothing here takes streams other than audio".into())
        }
        Err(e) => Take::NotTaken(e.message),
    }
}

/// A new INVITE whose offer is a session (`sessions::is_session_offer`).
pub async fn on_invite(agent: &Arc<Agent>, origin: Origin, tx: Transaction) {
    let (peer, display_name) = caller(&tx.original);
    let id = new_call_id();
    let take = TakeSession {
        session: id.clone(),
        peer: peer.clone(),
        display_name,
        vouched: agent.gate.is_registrar(origin.addr.ip()),
        source: origin.source(),
        sdp: String::from_utf8_lossy(&tx.original.body).into_owned(),
        call: None,
    };
    // In the table before it is offered: the taker may act on it at once.
    agent.sessions().insert(Session::new(
        id.clone(),
        peer.clone(),
        Direction::Incoming,
        sip_call_id(&tx.original),
    ));
    let refusal = match offer_to_taker(agent, &take).await {
        Take::Kept => None,
        Take::Refused(code) => {
            log::info!("refused a session from {peer} ({origin}) with {code}: its taker said so");
            Some(StatusCode::from(code))
        }
        Take::NotTaken(why) => {
            log::info!(
                "refused an offer from {peer} ({origin}) with 488: the SDP has no audio stream \
                 and {why}"
            );
            Some(StatusCode::NotAcceptableHere)
        }
    };
    if let Some(code) = refusal {
        agent.sessions().remove(&id);
        refuse(agent, tx, code, vec![]).await;
        return;
    }
    let dialog = match server_dialog(agent, &tx, &origin) {
        Ok(dialog) => dialog,
        Err(e) => {
            log::warn!("cannot take a session from {peer}: {e}");
            agent.sessions().remove(&id);
            refuse(agent, tx, StatusCode::ServerInternalError, vec![]).await;
            agent.publish_ended(&id, (EndReason::Failed, Some(500)));
            return;
        }
    };
    let pending = match agent.sessions().get_mut(&id) {
        Some(session) => {
            session.dialog = Some(dialog.clone());
            session.state = SessionState::Ringing;
            session.pending.take()
        }
        None => None,
    };
    ring(&dialog, tx);
    log::info!("incoming session {id} from {peer} ({origin})");
    if let Some(pending) = pending {
        agent.carry_out(&id, pending).await;
    }
    agent.clone().session_ring_timeout(id);
}

impl Agent {
    /// A kept session nobody answers is given up as missed (480), after
    /// the calls' `ring_timeout_seconds`.
    fn session_ring_timeout(self: Arc<Self>, id: String) {
        let timeout = Duration::from_secs(self.config.ring_timeout_seconds);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let dialog = {
                let mut sessions = self.sessions();
                match sessions.get_mut(&id) {
                    Some(s) if s.state == SessionState::Ringing => {
                        s.ended_by_us = Some((EndReason::Missed, Some(480)));
                        s.dialog.clone()
                    }
                    _ => return,
                }
            };
            log::info!("session {id} was not answered in {timeout:?}");
            if let Some(dialog) = dialog {
                dialog
                    .reject(Some(StatusCode::TemporarilyUnavailable), None)
                    .ok();
            }
            self.end_session(&id, (EndReason::Missed, Some(480)));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taker_keeps_or_refuses_with_a_final_code() {
        assert_eq!(Take::of(Taken { refuse: None }), Take::Kept);
        assert_eq!(Take::of(Taken { refuse: Some(603) }), Take::Refused(603));
        assert_eq!(Take::of(Taken { refuse: Some(200) }), Take::Refused(488));
        assert_eq!(Take::of(Taken { refuse: Some(180) }), Take::Refused(488));
    }
}
