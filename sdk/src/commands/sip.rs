//! Commands provided by the SIP plugin (and `sip.take_message`, which the
//! SIP plugin calls and a relay provides).
//!
//! A `call` argument is Tandem's call id from `sip.call` or a
//! `sip.call.*` event. Where it is optional, leaving it out means "the only
//! call there is" (ringing, for `sip.answer`/`sip.reject`), and is refused
//! when that is ambiguous.

use serde::{Deserialize, Serialize};

use crate::events::sip::{Direction, EndReason, MediaStats};
use crate::CommandType;

/// Places a call; answers as soon as the INVITE is sent, with the call id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Call {
    /// `sip:bob@example.com`, `bob@192.0.2.1:5070`, or a bare IP address.
    pub to: String,
    /// Overrides the configured From URI for this call.
    pub from: Option<String>,
    /// The XEP-0482 invite this call answers (its id): carried as
    /// `call-invite=` on the `Call-Info` item with the user's XMPP address,
    /// so the inviter can recognise the call. Without that address (not
    /// shared) nothing is carried.
    pub invite: Option<String>,
}
impl CommandType for Call {
    const NAME: &'static str = "sip.call";
    type Reply = CallRef;
}

/// What commands that start or act on a call answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallRef {
    pub call: String,
}

/// Answers a ringing incoming call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    pub call: Option<String>,
}
impl CommandType for Answer {
    const NAME: &'static str = "sip.answer";
    type Reply = CallRef;
}

/// Rejects a ringing incoming call with a status code (default 603 Decline).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reject {
    pub call: Option<String>,
    pub code: Option<u16>,
}
impl CommandType for Reject {
    const NAME: &'static str = "sip.reject";
    type Reply = CallRef;
}

/// Ends a call in any state: CANCEL while it rings out, BYE once up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hangup {
    pub call: Option<String>,
}
impl CommandType for Hangup {
    const NAME: &'static str = "sip.hangup";
    type Reply = CallRef;
}

/// Puts a call on hold (or takes it off) with a re-INVITE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hold {
    pub call: Option<String>,
    pub hold: bool,
}
impl Default for Hold {
    fn default() -> Self {
        Hold {
            call: None,
            hold: true,
        }
    }
}
impl CommandType for Hold {
    const NAME: &'static str = "sip.hold";
    type Reply = CallRef;
}

/// Sends DTMF digits (`0-9 * # A-D`) as RFC 4733 events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendDtmf {
    pub call: Option<String>,
    pub digits: String,
}
impl CommandType for SendDtmf {
    const NAME: &'static str = "sip.dtmf";
    type Reply = CallRef;
}

/// Sends a SIP MESSAGE (RFC 3428) outside any call. Answers the 2xx; a
/// final refusal is a `rejected` error whose message reads
/// `<to> answered <code> <reason>` (`… answered 415 Unsupported Media
/// Type`), which callers may match on the code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendMessage {
    pub to: String,
    pub body: String,
    /// Default `text/plain;charset=utf-8`.
    pub content_type: Option<String>,
}
impl CommandType for SendMessage {
    const NAME: &'static str = "sip.send_message";
    type Reply = MessageSent;
}

impl SendMessage {
    /// The error `sip.send_message` answers when `to` gives a final
    /// refusal: `rejected`, reading `<to> answered <status>` where
    /// `status` is the code and its reason (`415 Unsupported Media Type`).
    /// One place writes it, so [`SendMessage::refusal_code`] can read it.
    pub fn refused(to: &str, status: impl std::fmt::Display) -> crate::CommandError {
        crate::CommandError::rejected(format!("{to} answered {status}"))
    }

    /// The SIP status code of a refusal made by [`SendMessage::refused`]
    /// (`Some(415)` for a peer that does not take the body's type); `None`
    /// for any other error (no answer, a bad address, no SIP plugin).
    pub fn refusal_code(error: &crate::CommandError) -> Option<u16> {
        if error.kind != crate::ErrorKind::Rejected {
            return None;
        }
        let (_, status) = error.message.split_once(" answered ")?;
        let digits = status.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok().filter(|code| (100..700).contains(code))
    }
}

/// Offered a SIP MESSAGE before it is answered, by the SIP plugin: whoever
/// relays SIP messages to the user (the shipped `sip-chat.lua`) provides
/// it, and answers only once the message is safely kept (sent on, or
/// waiting on disk). Any refusal makes the plugin answer the MESSAGE
/// `503 Service Unavailable` with `Retry-After`, so the sender tries again
/// later instead of taking a 200 for a message that went nowhere. With no
/// provider the MESSAGE is answered 200 as an event only. A type the
/// provider does not relay (is-composing, file offers) is answered `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TakeMessage(pub crate::events::sip::Message);
impl CommandType for TakeMessage {
    const NAME: &'static str = "sip.take_message";
    type Reply = serde_json::Value;
}

/// Sets the user's XMPP address that Tandem's INVITEs and 2xx announce in
/// `Call-Info: <xmpp:…>;purpose=impp` (RFC 6993, REQ-2), or stops
/// announcing it (`address` absent). Answers `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetImpp {
    /// `xmpp:alice@example.org`.
    pub address: Option<String>,
}
impl CommandType for SetImpp {
    const NAME: &'static str = "sip.set_impp";
    type Reply = serde_json::Value;
}

/// The final response to a MESSAGE.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageSent {
    pub code: u16,
}

/// Registration and calls, for `tandem ctl status`. Takes no arguments and
/// accepts any (`{}`, `null`, none), as the command always has.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GetStatus {}

super::takes_no_arguments!(GetStatus);
impl CommandType for GetStatus {
    const NAME: &'static str = "sip.status";
    type Reply = Status;
}

/// What `sip.status` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// Where the plugin listens, e.g. `udp 127.0.0.1:5060`.
    pub listening: Vec<String>,
    /// What the NAT in front of us means for calls, in plain words, once a
    /// STUN server (`stun_server`) has shown it matters ("behind a NAT
    /// that changes ports per destination: …"); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat: Option<String>,
    /// The user's SIP address as peers call it (`sip:alice@example.org`,
    /// or the listening address's form without a registrar).
    pub address: String,
    /// `none` when no registrar is configured.
    pub registration: String,
    pub calls: Vec<CallInfo>,
    /// UDP datagrams dropped unanswered: 8 KiB or more, not SIP, or a bad
    /// request that cannot be answered (an ACK, or one lacking the headers
    /// an answer copies).
    pub dropped_datagrams: u64,
    /// Bad requests (over UDP or TCP) answered with 400, an unknown method
    /// with 501, an unknown SIP version with 505, one too large for a TCP
    /// connection with 513.
    pub answered_malformed: u64,
    /// TCP messages dropped unanswered: what a datagram is dropped for, and
    /// bytes no message can be framed from (no end of the header block
    /// within 65,535 bytes, a header line that is not UTF-8, or a message
    /// with no Content-Length or a bad one that cannot be answered). Those,
    /// and bytes that are not SIP, also close the connection.
    pub dropped_tcp_messages: u64,
    /// TCP and TLS connections closed as soon as they were accepted:
    /// `max_connections` were open.
    pub refused_connections: u64,
    /// INVITEs answered 486 Busy Here: `max_ringing` calls were ringing.
    pub answered_busy: u64,
    /// INVITEs and MESSAGEs answered 403 Forbidden: from outside
    /// `accept_from`.
    pub answered_forbidden: u64,
    /// MESSAGEs answered 503 Service Unavailable with Retry-After: the relay
    /// to the user could not keep them (`sip.take_message`).
    pub answered_unavailable: u64,
    /// MESSAGEs refused because their source sent more than
    /// `message_rate` allows.
    pub answered_flood: u64,
}

/// One call in `sip.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallInfo {
    pub call: String,
    pub peer: String,
    /// The name the peer gave (an incoming call's `From` display name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub direction: Direction,
    /// `ringing`, `calling`, `up`, `held`.
    pub state: String,
    /// Seconds since the call was answered.
    pub duration: f64,
    pub media: MediaStats,
}

/// The calls now and the last ones that ended: one list behind `tandem
/// ctl calls`, the chat word `calls` and the *Recent calls* command.
/// Takes no arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GetCalls {}

super::takes_no_arguments!(GetCalls);
impl CommandType for GetCalls {
    const NAME: &'static str = "sip.calls";
    type Reply = CallList;
}

/// What `sip.calls` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallList {
    /// Calls ringing, being placed or under way.
    pub now: Vec<CallInfo>,
    /// Calls that ended since the plugin started, newest first (at most
    /// the last 20).
    pub recent: Vec<PastCall>,
}

/// One call that ended, in `sip.calls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PastCall {
    pub call: String,
    pub peer: String,
    /// The name the peer gave, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub direction: Direction,
    /// How it ended; an incoming call that ended `missed` or `cancelled`
    /// before it was answered is a missed call.
    pub reason: EndReason,
    /// When it began ringing or was placed, Unix seconds.
    pub started: u64,
    /// Seconds it was up (0 if never answered).
    pub duration: f64,
    /// The SIP status code when it failed or was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

impl PastCall {
    /// An incoming call nobody answered (it rang out, or the caller gave up).
    pub fn missed(&self) -> bool {
        self.direction == Direction::Incoming
            && self.duration <= 0.0
            && matches!(self.reason, EndReason::Missed | EndReason::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::SendMessage;
    use crate::CommandError;

    #[test]
    fn a_refusal_carries_its_code_and_nothing_else_does() {
        let e = SendMessage::refused("sip:bob@example.org", "415 Unsupported Media Type");
        assert_eq!(
            e.message,
            "sip:bob@example.org answered 415 Unsupported Media Type"
        );
        assert_eq!(SendMessage::refusal_code(&e), Some(415));
        assert_eq!(
            SendMessage::refusal_code(&SendMessage::refused("sip:b@x", 603)),
            Some(603)
        );
        for other in [
            CommandError::rejected("no route to sip:bob@example.org"),
            CommandError::rejected("sip:bob@example.org answered nothing"),
            CommandError::invalid_arguments("sip:bob@example.org answered 415"),
        ] {
            assert_eq!(SendMessage::refusal_code(&other), None, "{other:?}");
        }
    }
}
