//! Events published by the SIP plugin.

use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;
use crate::EventType;

/// Which side started the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Incoming,
    Outgoing,
}

/// An INVITE arrived and is ringing here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallIncoming {
    /// Tandem's call id (use it with `sip.answer`, `sip.hangup`, ...).
    pub call: String,
    /// The caller's SIP URI.
    pub peer: String,
    /// The caller's display name, if any.
    pub display_name: Option<String>,
    /// Where the INVITE came from, `ip:port` (`[v6]:port`): unlike the
    /// From header, which anyone writes as they like, the sender's own
    /// address (forgeable only over UDP from networks that allow it).
    pub source: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The XMPP address the caller's `Call-Info` names with
    /// `purpose=impp` (`xmpp:bob@example.org`), as they *claim* it: anyone
    /// can write one, so it is no proof of who calls.
    pub peer_impp: Option<String>,
    /// The caller's identity is vouched for: the INVITE came from the
    /// registrar (the user's SIP service, which authenticates its users).
    /// Otherwise `peer` is whatever the caller wrote, as
    /// [`Message::vouched`] says.
    pub vouched: bool,
    /// The XEP-0482 invite the caller says this call answers
    /// (`call-invite=` on its `purpose=impp` Call-Info), as *claimed*: it
    /// means something only to whoever sent that invite to that address,
    /// still open (`call-invites.lua` checks).
    pub invite_claim: Option<String>,
}
impl EventType for CallIncoming {
    const TOPIC: &'static str = "sip.call.incoming";
}

/// The far end is ringing (outgoing call).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallRinging {
    pub call: String,
    pub peer: String,
}
impl EventType for CallRinging {
    const TOPIC: &'static str = "sip.call.ringing";
}

/// The call is up (200 OK/ACK), in either direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallAnswered {
    pub call: String,
    pub peer: String,
    pub direction: Direction,
}
impl EventType for CallAnswered {
    const TOPIC: &'static str = "sip.call.answered";
}

/// The call is over (or never started: rejected, cancelled, missed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallEnded {
    pub call: String,
    pub peer: String,
    pub reason: EndReason,
    /// Seconds the call was up (0 if never answered).
    pub duration: f64,
    /// The SIP status code when the call failed or was rejected.
    pub code: Option<u16>,
    /// What the media path saw during the call.
    pub media: MediaStats,
}

open_enum! {
    /// Why a call ended (`sip.call.ended`'s `reason`).
    pub enum EndReason {
        /// We hung up (`sip.hangup`).
        Hangup = "hangup",
        /// The peer hung up.
        RemoteHangup = "remote_hangup",
        /// The call was refused (by us or by the peer).
        Rejected = "rejected",
        /// The caller gave up while it rang.
        Cancelled = "cancelled",
        /// Nobody answered an incoming call in time.
        Missed = "missed",
        /// Signalling or the network failed.
        Failed = "failed",
    }
}

/// Per-call RTP statistics (RFC 3550 counters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaStats {
    /// The codec the call used, as SDP names it: `PCMU`, `PCMA`, `G722` or
    /// `opus`; empty when no media was set up.
    pub codec: String,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1), milliseconds.
    pub jitter_ms: f64,
    /// RFC 4733 digits received, in order.
    pub dtmf_received: String,
    /// The SRTP crypto suite (`AES_CM_128_HMAC_SHA1_80`), empty for plain RTP.
    pub encryption: String,
    /// Packets dropped unplayed: they failed SRTP authentication or were
    /// replayed.
    pub packets_rejected: u64,
}

/// The call was put on hold or taken off hold (re-INVITE, either side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallHeld {
    pub call: String,
    pub peer: String,
    pub held: bool,
    /// `local` when we put it on hold, `remote` when the peer did.
    pub by: String,
}
impl EventType for CallHeld {
    const TOPIC: &'static str = "sip.call.held";
}

/// A DTMF digit arrived: an RFC 4733 telephone-event on the call's RTP, or
/// an INFO within the call (`application/dtmf-relay` or `application/dtmf`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dtmf {
    pub call: String,
    pub digit: String,
}
impl EventType for Dtmf {
    const TOPIC: &'static str = "sip.dtmf";
}

/// The registration changed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Registration {
    pub state: RegistrationState,
    /// The registrar URI.
    pub registrar: String,
    /// The last SIP status code, if a response came.
    pub code: Option<u16>,
    /// Why it failed, for a person.
    pub reason: Option<String>,
    /// Seconds the registrar granted.
    pub expires: Option<u32>,
    /// Seconds until the next attempt after a failure.
    pub retry_in: Option<f64>,
}
impl EventType for Registration {
    const TOPIC: &'static str = "sip.registration";
}

open_enum! {
    /// Where a registration stands (`sip.registration`'s `state`).
    pub enum RegistrationState {
        Registering = "registering",
        Registered = "registered",
        Failed = "failed",
        Unregistered = "unregistered",
    }
}

/// A SIP MESSAGE (RFC 3428) arrived, outside any dialog or inside a call's
/// (then `call` names it). The content type is kept as sent, parameters
/// and all, so other plugins can take what is theirs
/// (`application/im-iscomposing+xml`, ...); compare it by its type/subtype
/// only, case-insensitively. The body arrives byte-exact: as `body` when it
/// is UTF-8 text, else base64 in `body_base64` (with `body` empty); text in
/// ISO-8859-1 comes decoded in `body` with its bytes in `body_base64`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    pub from: String,
    pub to: String,
    pub content_type: String,
    /// The body when it is UTF-8 text; empty when it is not (see
    /// `body_base64`).
    pub body: String,
    /// Where the MESSAGE came from, `ip:port` (see [`CallIncoming::source`]).
    /// Inside a dialog, the top Via as the transport marked it (`received`,
    /// `rport`): in-dialog requests are not checked against `accept_from`.
    pub source: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The body in base64 (RFC 4648, padded) when it is not UTF-8 text;
    /// absent when `body` holds it.
    pub body_base64: Option<String>,
    /// Tandem's call id when the MESSAGE came within that call's dialog;
    /// absent for a MESSAGE outside any dialog.
    pub call: Option<String>,
    /// The sender's display name from `From`, when it gave one ("Bob").
    pub display_name: Option<String>,
    /// The sender's identity is vouched for: the MESSAGE came from the
    /// registrar (the user's SIP service, which authenticates its users).
    /// Otherwise `from` is whatever the sender wrote: say so to the user.
    pub vouched: bool,
}
impl EventType for Message {
    const TOPIC: &'static str = "sip.message";
}

/// An INFO (RFC 6086) arrived within a call, other than DTMF: INFO
/// `application/dtmf-relay` and `application/dtmf` become [`Dtmf`] events
/// instead. Answered 200 either way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Info {
    /// Tandem's call id.
    pub call: String,
    pub peer: String,
    /// As sent, parameters and all; empty when the INFO had none.
    pub content_type: String,
    /// The body when it is UTF-8 text (see [`Message::body`]).
    pub body: String,
    /// The body in base64 when it is not UTF-8 text.
    pub body_base64: Option<String>,
}
impl EventType for Info {
    const TOPIC: &'static str = "sip.call.info";
}

/// A NOTIFY (RFC 6665) arrived within a call's dialog: a transfer's
/// progress (`refer`, `message/sipfrag`), say. Answered 200.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notify {
    /// Tandem's call id.
    pub call: String,
    pub peer: String,
    /// The Event header (`refer`, `dialog`, ...), empty when absent.
    pub event: String,
    /// As sent, parameters and all; empty when the NOTIFY had no body.
    pub content_type: String,
    /// The body when it is UTF-8 text (see [`Message::body`]).
    pub body: String,
    /// The body in base64 when it is not UTF-8 text.
    pub body_base64: Option<String>,
}
impl EventType for Notify {
    const TOPIC: &'static str = "sip.call.notify";
}
impl EventType for CallEnded {
    const TOPIC: &'static str = "sip.call.ended";
}

#[cfg(test)]
mod tests {
    use super::Message;
    use crate::Payload;

    /// `body_base64` and `call` came later (issue 18): a MESSAGE event from
    /// an older plugin reads as text outside any dialog, and one with them
    /// still gives an older subscriber its fields.
    #[test]
    fn message_fields_added_for_bytes_and_calls_break_nobody() {
        let older = Payload::from(serde_json::json!({
            "from": "sip:bob@example.org", "to": "sip:alice@example.org",
            "content_type": "text/plain", "body": "hi", "source": "192.0.2.10:5060",
            "transport": "udp"
        }));
        let read: Message = older.decode().unwrap();
        assert_eq!(
            (read.body.as_str(), read.body_base64, read.call),
            ("hi", None, None)
        );
        let newer = Payload::encode(&Message {
            body_base64: Some("//4=".into()),
            call: Some("c1".into()),
            ..read
        })
        .unwrap();
        #[derive(serde::Deserialize)]
        struct OldMessage {
            from: String,
            body: String,
        }
        let old: OldMessage = newer.decode().unwrap();
        assert_eq!(
            (old.from.as_str(), old.body.as_str()),
            ("sip:bob@example.org", "hi")
        );
        let again: Message = newer.decode().unwrap();
        assert_eq!(again.call.as_deref(), Some("c1"));
    }
}
