//! What commands do to calls: answer, reject, hang up, hold, DTMF; and how
//! a call ends, whoever ends it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rsipstack::sip::{Header, StatusCode};
use tandem_sdk::commands::sip::CallRef;
use tandem_sdk::commands::sip::PastCall;
use tandem_sdk::events::sip::{CallAnswered, CallEnded, CallHeld, Direction, Dtmf};
use tandem_sdk::{tokio, CommandError};

use crate::media::sdp::{self, Negotiated};
use crate::media::session::MediaEvent;
use crate::media::{ActiveMedia, PreparedMedia};
use crate::ua::agent::Agent;
use crate::ua::calls::{Call, CallState, RingTimer};

fn invalid(message: impl std::fmt::Display) -> CommandError {
    CommandError::invalid_arguments(message.to_string())
}

fn failed(message: impl std::fmt::Display) -> CommandError {
    CommandError::rejected(message.to_string())
}

impl Agent {
    /// `sip.answer`: 200 OK with our SDP answer; media starts now, and
    /// `sip.call.answered` goes out when the ACK arrives.
    pub async fn answer(self: &Arc<Self>, call: Option<&str>) -> Result<CallRef, CommandError> {
        let (id, dialog, offer, media_address, encryption) = {
            let mut calls = self.calls();
            let call = calls
                .pick(call, "ringing", |c| c.state == CallState::Ringing)
                .map_err(invalid)?;
            if call.state != CallState::Ringing {
                return Err(invalid(format!("call {} is not ringing", call.id)));
            }
            let dialog = call.dialog.clone().ok_or_else(|| failed("no dialog"))?;
            let address = self.call_media_address(call);
            let encryption = call.encryption;
            (
                call.id.clone(),
                dialog,
                call.offer.clone(),
                address,
                encryption,
            )
        };
        // An IPv6 socket when our SDP names an IPv6 address (decision 0075).
        let prepared = PreparedMedia::bind(
            self.media_bind_toward(Some(media_address)),
            self.media.ports,
        )
        .await
        .map_err(failed)?;
        let session_id: u64 = rand::random::<u32>().into();
        let offer = offer
            .as_deref()
            .map(sdp::parse)
            .transpose()
            .map_err(failed)?;
        let media_peer = offer
            .as_ref()
            .and_then(|o| o.media.iter().find_map(|m| m.connection).or(o.connection));
        let (media_address, port) = self
            .public_media(&prepared, media_peer, media_address)
            .await;
        let (body, agreed) = match &offer {
            Some(offer) => {
                let agreed = offer
                    .negotiate(encryption, &self.media.codecs)
                    .map_err(failed)?;
                let body = sdp::answer(
                    offer,
                    &agreed,
                    session_id,
                    (media_address, port),
                    &prepared.key,
                );
                prepared.open_path(&agreed).await;
                (body, Some(agreed))
            }
            // Late offer: we offer in the 200, the answer comes in the ACK.
            None => {
                let security = sdp::Security {
                    encryption,
                    key: prepared.key,
                    codecs: self.media.codecs,
                };
                let body = sdp::offer(session_id, media_address, port, &security);
                (body, None)
            }
        };
        let mut headers = vec![Header::ContentType("application/sdp".into())];
        headers.extend(self.extra_headers());
        let (local, remote) = self
            .calls()
            .get_mut(&id)
            .map(|c| (c.session_id.clone(), c.peer_session_id.clone()))
            .unwrap_or_default();
        headers.extend(self.identity_headers(&local, remote.as_deref()));
        // The offer's other m-lines (a video we refused with port 0) stay
        // in every later offer of ours in this call, in their places (RFC
        // 3264 §8): a strict peer answers a re-INVITE without them 488.
        let layout = crate::media::sdp_sections::call_layout(&body);
        dialog
            .accept(Some(headers), Some(body.into_bytes()))
            .map_err(failed)?;
        let mut calls = self.calls();
        let Some(call) = calls.get_mut(&id) else {
            return Err(failed("the call ended while it was being answered"));
        };
        call.state = CallState::Up;
        call.ring_timer = None;
        call.answered_at = Some(Instant::now());
        call.media_port = Some(port);
        call.media_address = Some(media_address);
        call.media_key = Some(prepared.key);
        call.layout = layout;
        match agreed {
            Some(agreed) => call.media = Some(self.start_media(&id, prepared, agreed)?),
            None => call.prepared = Some(prepared),
        }
        Ok(CallRef { call: id })
    }

    pub fn start_media(
        self: &Arc<Self>,
        id: &str,
        prepared: PreparedMedia,
        agreed: Negotiated,
    ) -> Result<ActiveMedia, CommandError> {
        // At the codec's audio rate: 8 kHz for G.711, 16 kHz for G.722 and
        // Opus (decision 0074).
        let rate = agreed.codec.rate();
        let source = self.media.source.open_for_call(id, rate).map_err(failed)?;
        let recording = self.media.record.open(id, rate).map_err(failed)?;
        let sink = self.media.playback.with_recording(id, rate, recording);
        let audio = crate::media::call_audio::CallAudio::new(source, sink, rate);
        let host = self.host.clone();
        let call = id.to_owned();
        log::info!(
            "call {id}: {} to {}:{}, {}",
            agreed.codec.name(),
            agreed.remote_ip,
            agreed.remote_port,
            match (agreed.srtp, agreed.dtls) {
                (Some(k), _) => format!("SRTP {}", k.suite.name()),
                (None, Some(_)) => "DTLS-SRTP".to_owned(),
                (None, None) => "not encrypted".to_owned(),
            }
        );
        let agent = Arc::downgrade(self);
        let timeout = self.config.media_timeout_seconds;
        ActiveMedia::start(
            prepared,
            agreed,
            audio,
            format!(
                "{}@{}",
                self.config.user,
                self.media.advertised.toward(Some(agreed.remote_ip))
            ),
            (timeout > 0).then(|| Duration::from_secs(timeout)),
            move |event| match event {
                MediaEvent::Dtmf(digit) => {
                    host.publish(&Dtmf {
                        call: call.clone(),
                        digit: digit.to_string(),
                    });
                }
                MediaEvent::Silent => {
                    if let Some(agent) = agent.upgrade() {
                        let call = call.clone();
                        tokio::spawn(async move { agent.media_timed_out(&call).await });
                    }
                }
                MediaEvent::EncryptionFailed(failure) => {
                    if let Some(agent) = agent.upgrade() {
                        let call = call.clone();
                        tokio::spawn(async move { agent.encryption_failed(&call, failure).await });
                    }
                }
            },
        )
        .map_err(failed)
    }

    /// `sip.reject`: a final error response to a ringing call.
    pub fn reject(&self, call: Option<&str>, code: Option<u16>) -> Result<CallRef, CommandError> {
        let code = code.unwrap_or(603);
        if !(400..700).contains(&code) {
            return Err(invalid(format!(
                "reject code {code} is not 4xx, 5xx or 6xx"
            )));
        }
        let mut calls = self.calls();
        let call = calls
            .pick(call, "ringing", |c| c.state == CallState::Ringing)
            .map_err(invalid)?;
        if call.state != CallState::Ringing {
            return Err(invalid(format!(
                "call {} is {}, not ringing: use sip.hangup",
                call.id,
                call.state.name()
            )));
        }
        call.ended_locally = true;
        call.rejected_with = Some(code);
        let dialog = call.dialog.clone().ok_or_else(|| failed("no dialog"))?;
        dialog
            .reject(Some(StatusCode::from(code)), None)
            .map_err(failed)?;
        Ok(CallRef {
            call: call.id.clone(),
        })
    }

    /// `sip.hangup`: BYE once up, CANCEL while ringing out, 486 while
    /// ringing in.
    pub async fn hangup(&self, call: Option<&str>) -> Result<CallRef, CommandError> {
        let (id, dialog) = {
            let mut calls = self.calls();
            let call = calls.pick(call, "current", |_| true).map_err(invalid)?;
            if call.state == CallState::Ringing {
                // Still ringing here: hanging up is declining it, busy.
                let id = call.id.clone();
                drop(calls);
                return self.reject(Some(&id), Some(486));
            }
            call.ended_locally = true;
            (call.id.clone(), call.dialog.clone())
        };
        // No dialog: outgoing and not sent yet; the INVITE task sees the flag.
        if let Some(dialog) = dialog {
            dialog.hangup().await.map_err(failed)?;
        }
        Ok(CallRef { call: id })
    }

    /// `sip.hold`: a re-INVITE with `sendonly` (or back to `sendrecv`).
    pub async fn hold(&self, call: Option<&str>, hold: bool) -> Result<CallRef, CommandError> {
        let (id, dialog, port, media_address, security, layout) = {
            let mut calls = self.calls();
            let call = calls
                .pick(call, "active", |c| {
                    matches!(c.state, CallState::Up | CallState::Held)
                })
                .map_err(invalid)?;
            let port = call
                .media_port
                .ok_or_else(|| invalid("the call has no media yet"))?;
            let address = self.call_media_address(call);
            let security = call.media_key.map(|key| sdp::Security {
                encryption: call.encryption,
                key,
                codecs: self.media.codecs,
            });
            let security = security.ok_or_else(|| invalid("the call has no media yet"))?;
            (
                call.id.clone(),
                call.dialog.clone(),
                port,
                address,
                security,
                call.layout.clone(),
            )
        };
        let dialog = dialog.ok_or_else(|| failed("no dialog"))?;
        let mut sdp = sdp::offer(rand::random::<u32>().into(), media_address, port, &security);
        if hold {
            sdp = sdp.replace("a=sendrecv", "a=sendonly");
        }
        // Every m-line the call has, in its place (RFC 3264 §8).
        let sdp = crate::media::sdp_sections::in_layout(&sdp, &layout);
        let headers = vec![Header::ContentType("application/sdp".into())];
        let response = dialog
            .reinvite(Some(headers), Some(sdp.into_bytes()))
            .await
            .map_err(failed)?;
        match response {
            Some(r) if r.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful => {
                let agreed = sdp::parse(&r.body)
                    .and_then(|s| s.negotiate(security.encryption, &security.codecs));
                let mut calls = self.calls();
                if let Some(call) = calls.get_mut(&id) {
                    call.state = if hold { CallState::Held } else { CallState::Up };
                    if let (Some(media), Ok(mut agreed)) = (&call.media, agreed) {
                        if hold {
                            agreed.direction = sdp::Direction::SendOnly;
                        }
                        media.update(agreed);
                    }
                    self.host.publish(&CallHeld {
                        call: id.clone(),
                        peer: call.peer.clone(),
                        held: hold,
                        by: "local".into(),
                    });
                }
                Ok(CallRef { call: id })
            }
            Some(r) => Err(failed(format!("the peer refused: {}", r.status_code))),
            None => Err(failed("no answer to the re-INVITE")),
        }
    }

    /// `sip.dtmf`: digits as RFC 4733 events on the call's RTP.
    pub fn dtmf(&self, call: Option<&str>, digits: &str) -> Result<CallRef, CommandError> {
        let mut calls = self.calls();
        let call = calls
            .pick(call, "active", |c| c.state == CallState::Up)
            .map_err(invalid)?;
        let media = call
            .media
            .as_ref()
            .ok_or_else(|| invalid(format!("call {} has no media yet", call.id)))?;
        media.send_dtmf(digits).map_err(invalid)?;
        Ok(CallRef {
            call: call.id.clone(),
        })
    }

    /// The call is up: announce it once (ACK received or sent).
    pub fn announce_answered(&self, call: &mut Call) {
        if call.announced {
            return;
        }
        call.announced = true;
        call.state = CallState::Up;
        call.answered_at.get_or_insert_with(Instant::now);
        log::info!("call {} with {} is up", call.id, call.peer);
        self.host.publish(&CallAnswered {
            call: call.id.clone(),
            peer: call.peer.clone(),
            direction: call.direction,
        });
    }

    /// The peer went silent without a BYE: hang up, saying why.
    async fn media_timed_out(&self, id: &str) {
        log::warn!(
            "call {id}: nothing from the peer for {} s; hanging up",
            self.config.media_timeout_seconds
        );
        if let Some(call) = self.calls().get_mut(id) {
            call.end_reason = Some("media_timeout");
        }
        if let Err(e) = self.hangup(Some(id)).await {
            log::warn!("call {id}: hang-up after media timeout failed: {e}");
            self.end_call(id, "failed", None).await;
        }
    }

    /// The call's DTLS-SRTP handshake failed: no audio went out, and the
    /// call ends with a BYE, as when SRTP is required and the answer is
    /// plain (`reason=failed`).
    async fn encryption_failed(&self, id: &str, failure: crate::media::srtp::dtls::Failure) {
        log::warn!("call {id}: hanging up: {failure}");
        if let Some(call) = self.calls().get_mut(id) {
            call.end_reason = Some("failed");
        }
        if let Err(e) = self.hangup(Some(id)).await {
            log::warn!("call {id}: hang-up after the failed handshake failed: {e}");
            self.end_call(id, "failed", None).await;
        }
    }

    /// Removes the call, stops its media and publishes `sip.call.ended`.
    pub async fn end_call(&self, id: &str, remote_reason: &str, code: Option<u16>) {
        let Some(mut call) = self.calls().remove(id) else {
            return;
        };
        if let Some(dialog) = &call.dialog {
            self.dialogs.remove_dialog(&dialog.id());
        }
        self.end_call_sessions(id, call.ended_locally);
        let answered = call.answered_at.is_some();
        let reason = match (call.ended_locally, answered, call.direction) {
            (true, true, _) => "hangup",
            (true, false, Direction::Incoming) => "rejected",
            (true, false, Direction::Outgoing) => "cancelled",
            (false, true, _) => "remote_hangup",
            (false, false, _) => remote_reason,
        };
        let code = call.rejected_with.or(code);
        let reason = call.end_reason.unwrap_or(reason);
        let duration = call.duration();
        let media = match call.media.take() {
            Some(media) => media.stop().await,
            None => Default::default(),
        };
        log::info!(
            "call {id} with {} ended ({reason}) after {duration:.1} s: {} packets sent, {} received",
            call.peer,
            media.packets_sent,
            media.packets_received
        );
        self.history.push(PastCall {
            call: id.to_owned(),
            peer: call.peer.clone(),
            display_name: call.display_name.clone(),
            direction: call.direction,
            reason: reason.into(),
            started: call
                .started
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            duration,
            code,
        });
        self.host.publish(&CallEnded {
            call: id.to_owned(),
            peer: call.peer,
            reason: reason.into(),
            duration,
            code,
            media,
        });
    }

    /// An incoming call nobody answers is given up as missed. The task
    /// is the call's (`Call::ring_timer`): it stops when the call is
    /// answered or removed.
    pub fn ring_timeout(self: Arc<Self>, id: String) {
        let timeout = Duration::from_secs(self.config.ring_timeout_seconds);
        let agent = self.clone();
        let call = id.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let dialog = {
                let mut calls = self.calls();
                match calls.get_mut(&id) {
                    Some(call) if call.state == CallState::Ringing => {
                        // This task ends the call: removing it must not
                        // stop the task half way.
                        if let Some(timer) = call.ring_timer.take() {
                            timer.disarm();
                        }
                        call.dialog.clone()
                    }
                    _ => None,
                }
            };
            if let Some(dialog) = dialog {
                log::info!("call {id} was not answered in {timeout:?}");
                dialog
                    .reject(Some(StatusCode::TemporarilyUnavailable), None)
                    .ok();
                self.end_call(&id, "missed", Some(480)).await;
            }
        });
        let mut calls = agent.calls();
        if let Some(ringing) = calls.get_mut(&call) {
            ringing.ring_timer = Some(RingTimer::new(task.abort_handle()));
        }
    }
}
