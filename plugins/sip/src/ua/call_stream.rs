//! A stream added to a call that is up (decision 0072): a re-INVITE that
//! keeps the audio and adds a live `m=message` stream (RFC 5547 "session
//! related" file transfer) is offered to the same taker as a session of
//! its own (`sip.take_session`, with the call's id), and the re-INVITE is
//! held while the taker decides, at most [`DECISION_BOUND`]: then the 200
//! answers the audio as before plus the taker's section in the stream's
//! m-line position, or the stream with port 0 (a person's "no", 603, 600
//! or 486, refuses the re-INVITE with it instead: the call stays as it
//! was, and the sender reads a "no"). The call is never touched:
//! its audio is answered before the taker is asked, and nothing the taker
//! does ends it. The session ends when the peer sets the stream's port to
//! 0, when we do (`sip.session.end`: [`Agent::drop_stream`]), or with the
//! call.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::TransactionHandle;
use rsipstack::sip::{Header, Request, StatusCode};
use tandem_sdk::commands::sip_session::{TakeSession, IN_CALL_ANSWER_SECONDS};
use tandem_sdk::events::sip::{Direction, EndReason};
use tandem_sdk::tokio;

use crate::media::sdp;
use crate::media::sdp_sections as sections;
use crate::ua::agent::Agent;
use crate::ua::calls::{new_call_id, Call, CallState};
use crate::ua::session_incoming::{offer_to_taker, Take};
use crate::ua::sessions::{Decision, InCall, Pending, Session, SessionState};

/// How long a re-INVITE adding a stream waits for the taker's answer.
/// Under rsipstack's own limit for answering a request in a dialog
/// (64·T1, 32 s, after which it answers 501) and a peer's Timer B, while
/// long enough for a person who is asked to say yes; a later answer finds
/// the stream refused, and a Tandem sender offers the file in a session
/// of its own (page mode) instead, where the person has the whole ring
/// time.
pub const DECISION_BOUND: Duration = Duration::from_secs(IN_CALL_ANSWER_SECONDS);

/// The call a re-INVITE belongs to, as this module needs it.
struct CallInfo {
    id: String,
    peer: String,
    display_name: Option<String>,
    up: bool,
}

/// A peer's re-INVITE in a call: the audio answered as before
/// (`audio_answer`), and any stream beside it handled here. Answers the
/// request.
pub async fn on_reinvite(
    agent: Arc<Agent>,
    sip_call_id: String,
    request: Request,
    handle: TransactionHandle,
    audio_answer: (StatusCode, Option<Vec<Header>>, Option<Vec<u8>>),
) {
    let (mut status, mut headers, body) = audio_answer;
    let body = match body {
        Some(body) if status == StatusCode::OK && !request.body.is_empty() => {
            let offer = String::from_utf8_lossy(&request.body).into_owned();
            let answer = String::from_utf8_lossy(&body).into_owned();
            match streams(&agent, &sip_call_id, &request, &offer, answer, &handle).await {
                Ok(answer) => Some(answer.into_bytes()),
                Err(declined) => {
                    // The person said no: the re-INVITE is refused with
                    // their code, and the call goes on as it was (RFC 3261
                    // §14.2), so the sender reads a "no", not a stream it
                    // could offer again some other way.
                    (status, headers) = (declined, None);
                    None
                }
            }
        }
        other => other,
    };
    handle.respond(status, headers, body).await.ok();
}

/// Our answer to `offer` with the streams beside the audio answered, and
/// the call's layout kept for our later offers.
async fn streams(
    agent: &Arc<Agent>,
    sip_call_id: &str,
    request: &Request,
    offer: &str,
    mut answer: String,
    handle: &TransactionHandle,
) -> Result<String, StatusCode> {
    let Some(call) = call_info(agent, sip_call_id) else {
        return Ok(answer);
    };
    let (_, offered) = sections::split(offer);
    let existing = agent
        .sessions()
        .of_call(&call.id)
        .and_then(|s| Some((s.id.clone(), s.in_call.as_ref()?.slot, s.state)));
    if let Some((session, slot, state)) = &existing {
        let (slot, state) = (*slot, *state);
        let kept = offered.get(slot).is_some_and(|s| sections::is_live(s));
        let ours = agent
            .calls()
            .get_mut(&call.id)
            .and_then(|c| c.layout.get(slot).cloned().flatten());
        match (kept, ours) {
            (true, Some(ours)) if state == SessionState::Up => {
                answer = sections::replace(&answer, slot, &ours);
            }
            (false, _) => {
                log::info!(
                    "session {session}: the peer ended its stream in call {}",
                    call.id
                );
                agent.end_session(session, (EndReason::RemoteHangup, None));
            }
            _ => {}
        }
    }
    let new = offered.iter().enumerate().position(|(i, s)| {
        Some(i) != existing.as_ref().map(|e| e.1)
            && sections::kind(s) == "message"
            && sections::is_live(s)
    });
    if let (Some(slot), None, true) = (new, &existing, call.up) {
        if let Some(section) = take(agent, &call, request, offer, slot, handle).await? {
            answer = sections::replace(&answer, slot, &section);
        }
    }
    if let Some(c) = agent.calls().get_mut(&call.id) {
        c.layout = sections::call_layout(&answer);
    }
    Ok(answer)
}

fn call_info(agent: &Agent, sip_call_id: &str) -> Option<CallInfo> {
    let mut calls = agent.calls();
    let call: &mut Call = calls.by_sip_call_id(sip_call_id)?;
    Some(CallInfo {
        id: call.id.clone(),
        peer: call.peer.clone(),
        display_name: call.display_name.clone(),
        up: matches!(call.state, CallState::Up | CallState::Held),
    })
}

/// Offers the new stream at `slot` to the taker and waits for its answer:
/// the taker's section, `None` (refused: port 0), or the code a person
/// declined it with (603, 600, 486: the re-INVITE is refused so).
async fn take(
    agent: &Arc<Agent>,
    call: &CallInfo,
    request: &Request,
    offer: &str,
    slot: usize,
    handle: &TransactionHandle,
) -> Result<Option<String>, StatusCode> {
    let started = tokio::time::Instant::now();
    // The peer hears at once that its re-INVITE is being worked on.
    handle.respond(StatusCode::Trying, None, None).await.ok();
    let id = new_call_id();
    let (decided, decision) = tokio::sync::oneshot::channel();
    let mut session = Session::new(
        id.clone(),
        call.peer.clone(),
        Direction::Incoming,
        String::new(),
    );
    session.in_call = Some(InCall {
        call: call.id.clone(),
        slot,
        decision: Some(decided),
    });
    agent.sessions().insert(session);
    let source = crate::ua::in_dialog::via_origin(request)
        .map(|o| o.source())
        .unwrap_or_default();
    let take = TakeSession {
        session: id.clone(),
        peer: call.peer.clone(),
        display_name: call.display_name.clone(),
        // Whether the call came through the registrar is not kept: say
        // "not vouched" rather than guess (as for a MESSAGE in a call).
        vouched: false,
        source,
        sdp: sections::stream_only(offer, slot).unwrap_or_default(),
        call: Some(call.id.clone()),
    };
    let refused = match offer_to_taker(agent, &take).await {
        Take::Kept => None,
        Take::Refused(code) => Some((EndReason::Rejected, Some(code))),
        Take::NotTaken(why) => {
            log::info!("refused a stream added to call {}: {why}", call.id);
            Some((EndReason::Rejected, Some(488)))
        }
    };
    if let Some(reason) = refused {
        agent.end_session(&id, reason);
        return Ok(None);
    }
    let pending = match agent.sessions().get_mut(&id) {
        Some(s) => {
            s.state = SessionState::Ringing;
            s.pending.take()
        }
        None => return Ok(None),
    };
    log::info!("call {}: the peer adds a stream (session {id})", call.id);
    let decision = match pending {
        Some(Pending::Answer(sdp)) => Decision::Answer(sdp),
        Some(Pending::Reject(code)) => Decision::Refuse(EndReason::Rejected, Some(code)),
        Some(Pending::End) => Decision::Refuse(EndReason::Cancelled, Some(487)),
        None => {
            match tokio::time::timeout(DECISION_BOUND.saturating_sub(started.elapsed()), decision)
                .await
            {
                Ok(Ok(decision)) => decision,
                Ok(Err(_)) => return Ok(None), // Ended meanwhile (the call went).
                Err(_) => {
                    log::info!(
                        "session {id} was not answered in {DECISION_BOUND:?}: stream refused"
                    );
                    Decision::Refuse(EndReason::Missed, Some(480))
                }
            }
        }
    };
    match decision {
        Decision::Answer(sdp) => {
            let section = sections::standalone_section(&sdp);
            let mut sessions = agent.sessions();
            match (section, sessions.get_mut(&id)) {
                (Some(section), Some(s)) => {
                    s.state = SessionState::Up;
                    log::info!("session {id} in call {} is up", call.id);
                    Ok(Some(section))
                }
                (None, Some(_)) => {
                    drop(sessions);
                    log::warn!("session {id}: its taker's answer has no stream");
                    agent.end_session(&id, (EndReason::Failed, Some(488)));
                    Ok(None)
                }
                _ => Ok(None),
            }
        }
        Decision::Refuse(reason, code) => {
            agent.end_session(&id, (reason.clone(), code));
            match (reason, code) {
                (EndReason::Rejected, Some(code @ (603 | 600 | 486))) => {
                    Err(StatusCode::from(code))
                }
                _ => Ok(None),
            }
        }
    }
}

impl Agent {
    /// Ends the stream at `slot` of `call` with a re-INVITE that keeps the
    /// audio as it is and sets the stream's port to 0 (RFC 3264 §8.2). The
    /// call goes on whatever the peer answers.
    pub async fn drop_stream(&self, call: &str, slot: usize) {
        let (dialog, sdp) = {
            let mut calls = self.calls();
            let Some(c) = calls.get_mut(call) else { return };
            if let Some(Some(section)) = c.layout.get(slot).cloned() {
                c.layout[slot] = Some(sections::refused(&section));
            }
            let Some(audio) = self.our_audio_offer(c) else {
                return;
            };
            (c.dialog.clone(), sections::in_layout(&audio, &c.layout))
        };
        let Some(dialog) = dialog else { return };
        let headers = vec![Header::ContentType("application/sdp".into())];
        match dialog.reinvite(Some(headers), Some(sdp.into_bytes())).await {
            Ok(Some(r)) => log::info!("call {call}: stream {slot} ended ({})", r.status_code),
            Ok(None) => {}
            Err(e) => log::info!("call {call}: ending stream {slot}: {e}"),
        }
    }

    /// Our audio offer for `call` as it stands (held or not), for a
    /// re-INVITE of ours; `None` before the call has media.
    pub fn our_audio_offer(&self, call: &Call) -> Option<String> {
        let (port, key) = (call.media_port?, call.media_key?);
        let security = sdp::Security {
            encryption: call.encryption,
            key,
            codecs: self.media.codecs,
        };
        let address = self.call_media_address(call);
        let offer = sdp::offer(rand::random::<u32>().into(), address, port, &security);
        Some(if call.state == CallState::Held {
            offer.replace("a=sendrecv", "a=sendonly")
        } else {
            offer
        })
    }

    /// The call ended: so do the sessions whose streams were in it.
    pub fn end_call_sessions(&self, call: &str, by_us: bool) {
        let ids: Vec<String> = {
            let mut sessions = self.sessions();
            let mut ids = Vec::new();
            while let Some(s) = sessions.of_call(call) {
                let id = s.id.clone();
                ids.push(id.clone());
                // Taken out of the lookup; ended below, once.
                if let Some(in_call) = s.in_call.as_mut() {
                    in_call.call.clear();
                }
            }
            ids
        };
        let reason = if by_us {
            EndReason::Hangup
        } else {
            EndReason::RemoteHangup
        };
        for id in ids {
            self.end_session(&id, (reason.clone(), None));
        }
    }
}

/// Whether `a` and `b` name the same SIP peer: user, host and port, the
/// port 5060 when absent, parameters aside.
pub fn same_peer(a: &str, b: &str) -> bool {
    let key = |uri: &str| -> Option<(String, String, u16)> {
        let uri = crate::uri::parse_target(uri).ok()?;
        Some((
            uri.auth.map(|a| a.user).unwrap_or_default(),
            uri.host_with_port.host.to_string().to_ascii_lowercase(),
            uri.host_with_port.port.map(u16::from).unwrap_or(5060),
        ))
    };
    matches!((key(a), key(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_peer_whatever_the_spelling() {
        assert!(same_peer(
            "sip:bob@127.0.0.1:5070",
            "sip:bob@127.0.0.1:5070;transport=udp"
        ));
        assert!(same_peer("sip:bob@example.com", "sip:bob@EXAMPLE.com:5060"));
        assert!(!same_peer(
            "sip:bob@127.0.0.1:5070",
            "sip:bob@127.0.0.1:5071"
        ));
        assert!(!same_peer("sip:bob@x", "sip:carol@x"));
        assert!(!same_peer("", "sip:carol@x"));
    }
}
