//! The user's XMPP calls (XEP-0353 Jingle Message Initiation): the
//! messages their clients exchange, seen as Carbons or sent to the
//! sidecar, become `xmpp.call.*` events; the sidecar declines a proposal
//! when a rule asks (`xmpp.decline_call`). Tandem does no Jingle media and
//! advertises none (`crate::xep::caps`).

use std::time::Instant;

use tandem_sdk::events::sip::Direction as SdkDirection;
use tandem_sdk::events::xmpp::{
    JingleCall, JingleCallEnded, JingleCallProposed, JingleCallRinging, JingleCallStarted,
    JingleEndReason,
};
use tokio::sync::oneshot;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;

use super::state::Session;
use crate::peers::jingle_calls::{Call, Change, Direction, EndReason};
use crate::xep::jingle_message::{is_decline_condition, JingleMessage};

impl Session {
    /// A Jingle message of the user's (its Carbon) or to the user.
    pub(super) fn on_jingle_message(&mut self, m: &Message, message: &JingleMessage) {
        let Some(from) = &m.from else { return };
        let change =
            self.calls
                .observe(message, from, m.to.as_ref(), &self.account, Instant::now());
        if let Some(change) = change {
            self.publish_call_change(change);
        }
    }

    /// Ends the calls nothing was heard of in time (the keep-alive tick).
    pub(super) fn expire_calls(&mut self) {
        for change in self.calls.expire(Instant::now()) {
            self.publish_call_change(change);
        }
    }

    /// One of the user's clients went offline: its calls are over.
    pub(super) fn calls_device_gone(&mut self, device: &str) {
        for change in self.calls.device_gone(device, Instant::now()) {
            self.publish_call_change(change);
        }
    }

    /// Sends `<reject>` for a call proposed to the user, to the caller's
    /// client; the server copies it to the user's clients (Carbons), which
    /// then stop ringing.
    pub(super) async fn decline_call(
        &mut self,
        id: String,
        condition: String,
        text: Option<String>,
        reply: oneshot::Sender<Result<(), String>>,
    ) {
        if !is_decline_condition(&condition) {
            let _ = reply.send(Err(format!(
                "reason must be busy or decline, not `{condition}`"
            )));
            return;
        }
        let to = match self.calls.get(&id) {
            None => Err(format!("no XMPP call `{id}` is waiting for an answer")),
            Some(call) if call.direction != Direction::Incoming => {
                Err("that call is the user's own: it is not theirs to decline".to_owned())
            }
            Some(call) if call.started_at.is_some() => {
                Err("that call was already answered".to_owned())
            }
            Some(call) => Ok(call
                .peer_client
                .clone()
                .unwrap_or_else(|| call.peer.clone().into())),
        };
        let to = match to {
            Ok(to) => to,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
        message.id = Some(xmpp_parsers::message::Id(super::fresh_id()));
        message
            .payloads
            .push(JingleMessage::reject(&id, &condition, text.as_deref()));
        message
            .payloads
            .push(Element::builder("store", "urn:xmpp:hints").build());
        self.send(message.into()).await;
        if let Some(change) = self.calls.declined(&id, &condition, Instant::now()) {
            self.publish_call_change(change);
        }
        let _ = reply.send(Ok(()));
    }

    fn publish_call_change(&self, change: Change) {
        match change {
            Change::Proposed(call) => {
                self.host.publish(&JingleCallProposed(event_of(&call)));
            }
            Change::Ringing(call) => {
                self.host.publish(&JingleCallRinging(event_of(&call)));
            }
            Change::Started(call) => {
                self.host.publish(&JingleCallStarted(event_of(&call)));
            }
            Change::Ended {
                call,
                reason,
                condition,
                duration,
            } => {
                let mut event = event_of(&call);
                event.reason = Some(match reason {
                    EndReason::Rejected => JingleEndReason::Rejected,
                    EndReason::Retracted => JingleEndReason::Retracted,
                    EndReason::Finished => JingleEndReason::Finished,
                    EndReason::Expired => JingleEndReason::Expired,
                    EndReason::DeviceGone => JingleEndReason::DeviceGone,
                });
                event.condition = condition;
                event.duration = duration.as_secs_f64();
                self.host.publish(&JingleCallEnded(event));
            }
        }
    }
}

fn event_of(call: &Call) -> JingleCall {
    JingleCall {
        session: call.id.clone(),
        peer: call.peer.to_string(),
        direction: match call.direction {
            Direction::Incoming => SdkDirection::Incoming,
            Direction::Outgoing => SdkDirection::Outgoing,
        },
        media: call.media.clone(),
        device: call.device.clone(),
        ..JingleCall::default()
    }
}
