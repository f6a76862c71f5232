//! What commands and the dialog layer do to sessions that are not calls
//! (`sessions.rs`): `sip.session.answer`, `sip.session.reject`,
//! `sip.session.end`; the session's answer, BYE, CANCEL and timeouts as
//! `sip.session.answered` and `sip.session.ended`. The SDP is carried as
//! text both ways: its meaning is the taker's.

use rsipstack::dialog::dialog::DialogState;
use rsipstack::sip::{Header, StatusCode};
use tandem_sdk::commands::sip_session::SessionRef;
use tandem_sdk::events::sip::{Direction, EndReason};
use tandem_sdk::events::sip_session::{Answered, Ended};
use tandem_sdk::CommandError;

use crate::ua::agent::Agent;
use crate::ua::sessions::{remote_reason, Decision, Ending, Pending, SessionState};

fn invalid(message: impl std::fmt::Display) -> CommandError {
    CommandError::invalid_arguments(message.to_string())
}

fn failed(message: impl std::fmt::Display) -> CommandError {
    CommandError::rejected(message.to_string())
}

fn no_session(id: &str) -> CommandError {
    invalid(format!("no session {id:?}"))
}

impl Agent {
    /// `sip.session.answer`: 200 OK with `sdp` (`application/sdp`); the
    /// session is up when the peer's ACK arrives (none within 64·T1 ends
    /// it, `failed` 408).
    pub fn answer_session(&self, id: &str, sdp: &str) -> Result<SessionRef, CommandError> {
        let dialog = {
            let mut sessions = self.sessions();
            let session = sessions.get_mut(id).ok_or_else(|| no_session(id))?;
            if session.state == SessionState::Offered {
                session.pending = Some(Pending::Answer(sdp.to_owned()));
                return Ok(SessionRef::new(id));
            }
            if session.state != SessionState::Ringing {
                return Err(invalid(format!(
                    "session {id} is not waiting for an answer"
                )));
            }
            if let Some(in_call) = session.in_call.as_mut() {
                // Its re-INVITE waits for this (`call_stream.rs`).
                let call = Some(in_call.call.clone());
                let decided = in_call
                    .decision
                    .take()
                    .ok_or_else(|| failed("answered already"))?;
                session.state = SessionState::Answered;
                decided
                    .send(Decision::Answer(sdp.to_owned()))
                    .map_err(|_| failed("the peer's re-INVITE is over"))?;
                return Ok(SessionRef {
                    session: id.into(),
                    call,
                });
            }
            let dialog = session.dialog.clone().ok_or_else(|| failed("no dialog"))?;
            session.state = SessionState::Answered;
            dialog
        };
        let mut headers = vec![Header::ContentType("application/sdp".into())];
        headers.extend(self.extra_headers());
        if let Err(e) = dialog.accept(Some(headers), Some(sdp.as_bytes().to_vec())) {
            if let Some(session) = self.sessions().get_mut(id) {
                session.state = SessionState::Ringing;
            }
            return Err(failed(e));
        }
        log::info!("session {id} answered; waiting for the ACK");
        Ok(SessionRef::new(id))
    }

    /// `sip.session.reject`: a final refusal (603 Decline by default) of an
    /// incoming session not answered yet; ended `rejected` with that code.
    pub fn reject_session(&self, id: &str, code: Option<u16>) -> Result<SessionRef, CommandError> {
        let code = code.unwrap_or(603);
        if !(400..700).contains(&code) {
            return Err(invalid(format!(
                "reject code {code} is not 4xx, 5xx or 6xx"
            )));
        }
        let dialog = {
            let mut sessions = self.sessions();
            let session = sessions.get_mut(id).ok_or_else(|| no_session(id))?;
            if session.state == SessionState::Offered {
                session.pending = Some(Pending::Reject(code));
                return Ok(SessionRef::new(id));
            }
            if session.state != SessionState::Ringing {
                return Err(invalid(format!(
                    "session {id} is not waiting for an answer: use sip.session.end"
                )));
            }
            session.ended_by_us = Some((EndReason::Rejected, Some(code)));
            if let Some(decided) = session.in_call.as_mut().and_then(|c| c.decision.take()) {
                // The stream gets port 0; its re-INVITE's task ends it.
                let _ = decided.send(Decision::Refuse(EndReason::Rejected, Some(code)));
                return Ok(SessionRef::new(id));
            }
            session.dialog.clone()
        };
        if let Some(dialog) = dialog {
            dialog
                .reject(Some(StatusCode::from(code)), None)
                .map_err(failed)?;
        }
        self.end_session(id, (EndReason::Rejected, Some(code)));
        Ok(SessionRef::new(id))
    }

    /// `sip.session.end`: 487 to an incoming session not answered yet,
    /// CANCEL to an outgoing one, BYE once answered; ended `cancelled` or
    /// `hangup`.
    pub async fn end_session_now(&self, id: &str) -> Result<SessionRef, CommandError> {
        let (ending, dialog, in_call) = {
            let mut sessions = self.sessions();
            let session = sessions.get_mut(id).ok_or_else(|| no_session(id))?;
            if session.state == SessionState::Offered {
                session.pending = Some(Pending::End);
                return Ok(SessionRef::new(id));
            }
            let ending = session.ending();
            session.ended_by_us = Some(ending.reason());
            let up = matches!(session.state, SessionState::Answered | SessionState::Up);
            match session.in_call.as_mut() {
                Some(in_call) => match in_call.decision.take() {
                    Some(decided) => {
                        // Its re-INVITE's task refuses the stream and ends it.
                        let (reason, code) = ending.reason();
                        let _ = decided.send(Decision::Refuse(reason, code));
                        return Ok(SessionRef::new(id));
                    }
                    None => (ending, None, Some((in_call.call.clone(), in_call.slot, up))),
                },
                None => (ending, session.dialog.clone(), None),
            }
        };
        if let Some((call, slot, up)) = in_call {
            self.end_session(id, ending.reason());
            if up {
                self.drop_stream(&call, slot).await;
            }
            return Ok(SessionRef::new(id));
        }
        if let Some(dialog) = dialog {
            let sent = match ending {
                Ending::Refuse => dialog.reject(Some(StatusCode::RequestTerminated), None),
                Ending::Cancel | Ending::Bye => dialog.hangup().await,
            };
            if let Err(e) = sent {
                log::info!("session {id}: {e}");
            }
        }
        self.end_session(id, ending.reason());
        Ok(SessionRef::new(id))
    }

    /// Carries out what was asked while the taker was still answering
    /// `sip.take_session`, now that the session rings.
    pub async fn carry_out(&self, id: &str, pending: Pending) {
        let done = match pending {
            Pending::Answer(sdp) => self.answer_session(id, &sdp),
            Pending::Reject(code) => self.reject_session(id, Some(code)),
            Pending::End => self.end_session_now(id).await,
        };
        if let Err(e) = done {
            log::warn!("session {id}: {}", e.message);
        }
    }

    /// Ends every session, as the plugin stops: BYE or CANCEL, as
    /// `sip.session.end` would.
    pub async fn end_sessions(&self) {
        let ids = self.sessions().ids();
        for id in ids {
            self.end_session_now(&id).await.ok();
        }
    }

    /// Removes the session and publishes `sip.session.ended`: for the
    /// reason we ended it with, else `remote` (what the peer or the
    /// network did). Once only: a later report of the same end is ignored.
    pub fn end_session(&self, id: &str, remote: (EndReason, Option<u16>)) {
        let Some(session) = self.sessions().remove(id) else {
            return;
        };
        if let Some(dialog) = &session.dialog {
            self.dialogs.remove_dialog(&dialog.id());
        }
        let reason = session.end_reason(remote);
        log::info!(
            "session {id} with {} ended ({}{})",
            session.peer,
            reason.0,
            reason.1.map(|c| format!(", {c}")).unwrap_or_default()
        );
        self.publish_ended(id, reason);
    }

    pub fn publish_ended(&self, id: &str, (reason, code): (EndReason, Option<u16>)) {
        self.host.publish(&Ended {
            session: id.into(),
            reason,
            code,
        });
    }

    /// A dialog state change, if it is a session's: handled here (and
    /// `true`), never seen by the calls.
    pub fn on_session_state(&self, state: &DialogState) -> bool {
        match state {
            DialogState::Confirmed(id, response) => {
                let mut sessions = self.sessions();
                let Some(session) = sessions.by_sip_call_id(&id.call_id) else {
                    return false;
                };
                // Confirmed also follows in-dialog requests: once only.
                if !matches!(
                    session.state,
                    SessionState::Calling | SessionState::Answered
                ) {
                    return true;
                }
                let answered = session.state == SessionState::Calling;
                session.state = SessionState::Up;
                log::info!("session {} with {} is up", session.id, session.peer);
                if answered && session.direction == Direction::Outgoing {
                    self.host.publish(&Answered {
                        session: session.id.clone(),
                        sdp: String::from_utf8_lossy(&response.body).into_owned(),
                    });
                }
                true
            }
            DialogState::Terminated(id, reason) => {
                let session = self
                    .sessions()
                    .by_sip_call_id(&id.call_id)
                    .map(|s| s.id.clone());
                let Some(session) = session else {
                    return false;
                };
                self.end_session(&session, remote_reason(reason));
                self.dialogs.remove_dialog(id);
                true
            }
            DialogState::Early(id, _) => self.sessions().by_sip_call_id(&id.call_id).is_some(),
            _ => false,
        }
    }
}
