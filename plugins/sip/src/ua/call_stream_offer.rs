//! `sip.session.offer` with `in_call` toward a peer we are in a call with
//! (decision 0072): a re-INVITE offering the call's audio as it stands
//! plus the taker's stream, in the first slot of an ended stream of the
//! same kind or a new one at the end (RFC 3264 §8.1). The 200 with the
//! stream live is `sip.session.answered` (the SDP given is the answer's
//! session-level lines and that stream only); port 0 or a refusal of the
//! re-INVITE ends the session `rejected` (488 for port 0) and leaves the
//! call as it was.

use std::sync::Arc;

use rsipstack::sip::{Header, StatusCodeKind};
use tandem_sdk::commands::sip_session::SessionRef;
use tandem_sdk::events::sip::{Direction, EndReason};
use tandem_sdk::events::sip_session::Answered;
use tandem_sdk::{tokio, CommandError};

use crate::media::sdp_sections as sections;
use crate::ua::agent::Agent;
use crate::ua::call_stream::same_peer;
use crate::ua::calls::{new_call_id, CallState};
use crate::ua::sessions::{InCall, Session, SessionState};

impl Agent {
    /// The call that is up with `peer` and has no stream of another plugin
    /// yet, if any.
    pub fn call_with(&self, peer: &str) -> Option<String> {
        let ids = self.calls().ids_where(|c| {
            matches!(c.state, CallState::Up | CallState::Held)
                && c.media_port.is_some()
                && same_peer(&c.peer, peer)
        });
        let mut sessions = self.sessions();
        ids.into_iter().find(|id| sessions.of_call(id).is_none())
    }

    /// Offers `sdp`'s stream within `call` (see the module).
    pub fn offer_in_call(
        self: &Arc<Self>,
        call: &str,
        sdp: &str,
    ) -> Result<SessionRef, CommandError> {
        let section = sections::standalone_section(sdp)
            .ok_or_else(|| CommandError::invalid_arguments("the SDP has no stream"))?;
        let (dialog, offer, slot, peer) = {
            let mut calls = self.calls();
            let c = calls
                .get_mut(call)
                .ok_or_else(|| CommandError::invalid_arguments(format!("no call {call:?}")))?;
            let audio = self
                .our_audio_offer(c)
                .ok_or_else(|| CommandError::invalid_arguments("the call has no media yet"))?;
            let mut layout = c.layout.clone();
            if layout.is_empty() {
                layout.push(None);
            }
            let kind = sections::kind(&section).to_owned();
            let slot = layout
                .iter()
                .position(|s| {
                    s.as_deref()
                        .is_some_and(|s| sections::kind(s) == kind && !sections::is_live(s))
                })
                .unwrap_or(layout.len());
            if slot == layout.len() {
                layout.push(None);
            }
            layout[slot] = Some(section.clone());
            let offer = sections::in_layout(&audio, &layout);
            (c.dialog.clone(), offer, slot, c.peer.clone())
        };
        let dialog = dialog.ok_or_else(|| CommandError::rejected("the call has no dialog"))?;
        let id = new_call_id();
        let mut session =
            Session::new(id.clone(), peer.clone(), Direction::Outgoing, String::new());
        session.in_call = Some(InCall {
            call: call.to_owned(),
            slot,
            decision: None,
        });
        self.sessions().insert(session);
        log::info!("offering a stream to {peer} in call {call} (session {id})");
        let (agent, session, call_id) = (self.clone(), id.clone(), call.to_owned());
        tokio::spawn(async move {
            let headers = vec![Header::ContentType("application/sdp".into())];
            let response = dialog
                .reinvite(Some(headers), Some(offer.clone().into_bytes()))
                .await;
            agent
                .on_stream_answer(&call_id, &session, slot, &offer, response)
                .await;
        });
        Ok(SessionRef {
            session: id,
            call: Some(call.to_owned()),
        })
    }

    async fn on_stream_answer(
        &self,
        call: &str,
        session: &str,
        slot: usize,
        offer: &str,
        response: rsipstack::Result<Option<rsipstack::sip::Response>>,
    ) {
        let response = match response {
            Ok(Some(r)) => r,
            Ok(None) => return self.end_session(session, (EndReason::Failed, None)),
            Err(e) => {
                log::info!("session {session} in call {call}: {e}");
                return self.end_session(session, (EndReason::Failed, None));
            }
        };
        if response.status_code.kind() != StatusCodeKind::Successful {
            // The session as it was goes on (RFC 3261 §14.1).
            let code = u16::from(response.status_code.clone());
            return self.end_session(session, (EndReason::Rejected, Some(code)));
        }
        let answer = String::from_utf8_lossy(&response.body).into_owned();
        let (_, media) = sections::split(&answer);
        let live = media.get(slot).is_some_and(|s| sections::is_live(s));
        // Our offer is the call's layout now, the stream ended if refused.
        if let Some(c) = self.calls().get_mut(call) {
            c.layout = sections::layout_of(offer);
            if !live {
                if let Some(Some(s)) = c.layout.get(slot).cloned() {
                    c.layout[slot] = Some(sections::refused(&s));
                }
            }
        }
        if !live {
            return self.end_session(session, (EndReason::Rejected, Some(488)));
        }
        let still_wanted = match self.sessions().get_mut(session) {
            Some(s) => {
                s.state = SessionState::Up;
                true
            }
            None => false,
        };
        if !still_wanted {
            // Ended while the re-INVITE was out: take the stream back.
            return self.drop_stream(call, slot).await;
        }
        log::info!("session {session} in call {call} is up");
        self.host.publish(&Answered {
            session: session.to_owned(),
            sdp: sections::stream_only(&answer, slot).unwrap_or_default(),
        });
    }
}
