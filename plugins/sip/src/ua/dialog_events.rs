//! The dialog layer's state changes, turned into Tandem events: answered
//! on ACK, held on a re-INVITE, ended on BYE, CANCEL, rejection or timeout;
//! MESSAGE, INFO and NOTIFY within a call published (`in_dialog.rs`).

use std::sync::Arc;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::sip::{Header, StatusCode};
use tandem_sdk::events::sip::{CallHeld, CallRinging, Direction};

use super::call_stream;
use super::in_dialog::{CallOf, Received};
use crate::media::{sdp, sdp_sections};
use crate::ua::agent::Agent;
use crate::ua::calls::CallState;

pub async fn serve(agent: Arc<Agent>, mut states: DialogStateReceiver) {
    while let Some(state) = states.recv().await {
        // A session that is not a call never reaches the calls below.
        if agent.on_session_state(&state) {
            continue;
        }
        match state {
            DialogState::Early(id, response) => {
                let mut calls = agent.calls();
                if let Some(call) = calls.by_sip_call_id(&id.call_id) {
                    if call.state == CallState::Calling && !call.announced_ringing {
                        call.announced_ringing = true;
                        log::info!("call {} is ringing ({})", call.id, response.status_code);
                        agent.host.publish(&CallRinging {
                            call: call.id.clone(),
                            peer: call.peer.clone(),
                        });
                    }
                }
            }
            DialogState::Confirmed(id, response) => on_confirmed(&agent, &id.call_id, &response),
            DialogState::Updated(id, request, handle) => {
                // A re-INVITE (or UPDATE) from the peer: hold, unhold, new
                // address. Answer with our current media description.
                // A stream added beside the audio is the taker's
                // (`call_stream.rs`).
                let audio = on_reoffer(&agent, &id.call_id, &request.body);
                tandem_sdk::tokio::spawn(call_stream::on_reinvite(
                    agent.clone(),
                    id.call_id.clone(),
                    request,
                    handle,
                    audio,
                ));
            }
            DialogState::Options(_, _, handle) => {
                tandem_sdk::tokio::spawn(async move {
                    handle.reply(StatusCode::OK).await.ok();
                });
            }
            DialogState::Info(id, request, handle)
            | DialogState::Message(id, request, handle)
            | DialogState::Notify(id, request, handle) => {
                // What a peer sends during a call reaches the rules
                // (`in_dialog.rs`), answered first as before.
                let call = {
                    let mut calls = agent.calls();
                    match calls.by_sip_call_id(&id.call_id) {
                        Some(call) => CallOf {
                            id: call.id.clone(),
                            peer: call.peer.clone(),
                        },
                        None => CallOf {
                            id: String::new(),
                            peer: String::new(),
                        },
                    }
                };
                let received = Received::of(&request, call);
                let agent = agent.clone();
                tandem_sdk::tokio::spawn(async move {
                    handle.reply(received.status()).await.ok();
                    log::debug!("in-dialog {}", received.describe());
                    received.publish(&agent.host);
                });
            }
            DialogState::Terminated(id, reason) => {
                let (remote_reason, code) = describe(&reason);
                let call_id = agent
                    .calls()
                    .by_sip_call_id(&id.call_id)
                    .map(|c| c.id.clone());
                if let Some(call_id) = call_id {
                    let agent = agent.clone();
                    tandem_sdk::tokio::spawn(async move {
                        agent.end_call(&call_id, remote_reason, code).await;
                    });
                }
                agent.dialogs.remove_dialog(&id);
            }
            _ => {}
        }
    }
}

/// The call is up: for an outgoing call `response` is the 200 OK with the
/// answer; for an incoming call with a late offer the answer came in the ACK.
fn on_confirmed(agent: &Arc<Agent>, sip_call_id: &str, response: &rsipstack::sip::Response) {
    let mut calls = agent.calls();
    let Some(call) = calls.by_sip_call_id(sip_call_id) else {
        return;
    };
    if let Some(prepared) = call.prepared.take() {
        let answer = match call.direction {
            Direction::Outgoing => response.body.clone(),
            Direction::Incoming => call
                .dialog
                .as_ref()
                .and_then(|dialog| dialog.last_remote_ack())
                .map(|ack| ack.body)
                .unwrap_or_default(),
        };
        match sdp::parse(&answer).and_then(|s| s.negotiate(call.encryption, &agent.media.codecs)) {
            Ok(agreed) => match agent.start_media(&call.id, prepared, agreed) {
                Ok(media) => call.media = Some(media),
                Err(e) => log::warn!("call {}: no media: {e}", call.id),
            },
            Err(e @ (sdp::SdpError::EncryptionRequired | sdp::SdpError::EncryptionRefused(_))) => {
                // Plain audio where SRTP is required: the call must not
                // go on as if it could, so it ends at once with a BYE.
                log::warn!("call {}: hanging up: {e}", call.id);
                call.end_reason = Some("failed");
                let (agent, id) = (agent.clone(), call.id.clone());
                tokio::spawn(async move { agent.hangup(Some(&id)).await.ok() });
            }
            Err(e) => log::warn!("call {}: no usable answer: {e}", call.id),
        }
    }
    agent.announce_answered(call);
}

fn on_reoffer(
    agent: &Arc<Agent>,
    sip_call_id: &str,
    offer: &[u8],
) -> (StatusCode, Option<Vec<Header>>, Option<Vec<u8>>) {
    let mut calls = agent.calls();
    let Some(call) = calls.by_sip_call_id(sip_call_id) else {
        return (StatusCode::CallTransactionDoesNotExist, None, None);
    };
    let (Some(port), Some(key)) = (call.media_port, call.media_key) else {
        return (StatusCode::NotAcceptableHere, None, None);
    };
    if offer.is_empty() {
        // No SDP: a session refresh. Answer with our offer, every m-line
        // the call has in its place.
        let address = agent.call_media_address(call);
        let security = sdp::Security {
            encryption: call.encryption,
            key,
            codecs: agent.media.codecs,
        };
        let body = sdp::offer(rand::random::<u32>().into(), address, port, &security);
        let body = sdp_sections::in_layout(&body, &call.layout);
        return (StatusCode::OK, Some(sdp_header()), Some(body.into_bytes()));
    }
    let parsed = match sdp::parse(offer) {
        Ok(parsed) => parsed,
        Err(_) => return (StatusCode::BadRequest, None, None),
    };
    let agreed = match parsed.negotiate(call.encryption, &agent.media.codecs) {
        Ok(agreed) => agreed,
        Err(_) => return (StatusCode::NotAcceptableHere, None, None),
    };
    let held = agreed.held();
    let was_held = call.state == CallState::Held;
    if let Some(media) = &call.media {
        media.update(agreed);
    }
    if held != was_held {
        call.state = if held { CallState::Held } else { CallState::Up };
        agent.host.publish(&CallHeld {
            call: call.id.clone(),
            peer: call.peer.clone(),
            held,
            by: "remote".into(),
        });
    }
    let address = agent.call_media_address(call);
    let body = sdp::answer(
        &parsed,
        &agreed,
        rand::random::<u32>().into(),
        (address, port),
        &key,
    );
    (StatusCode::OK, Some(sdp_header()), Some(body.into_bytes()))
}

fn sdp_header() -> Vec<Header> {
    vec![Header::ContentType("application/sdp".into())]
}

/// The reason a call ended when the other side (or the network) ended it,
/// and the status code if there was one.
fn describe(reason: &TerminatedReason) -> (&'static str, Option<u16>) {
    match reason {
        TerminatedReason::Timeout => ("failed", Some(408)),
        TerminatedReason::UacCancel => ("missed", Some(487)),
        TerminatedReason::UacBye | TerminatedReason::UasBye => ("remote_hangup", None),
        TerminatedReason::UacBusy | TerminatedReason::UasBusy => ("rejected", Some(486)),
        TerminatedReason::UasDecline => ("rejected", Some(603)),
        TerminatedReason::ProxyAuthRequired => ("failed", Some(407)),
        TerminatedReason::ProxyError(code)
        | TerminatedReason::UacOther(code)
        | TerminatedReason::UasOther(code) => ("rejected", Some(u16::from(code.clone()))),
    }
}
