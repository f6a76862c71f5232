//! SIP sessions that are not calls: an INVITE whose only live stream is
//! not audio (an MSRP file transfer, RFC 5547). The SIP plugin signals
//! them and carries their SDP as text; the plugin that owns the stream
//! (the file-transfer plugin for `m=message`) reads and writes that SDP
//! and carries the bytes. Decision 0066 says why.
//!
//! A session is never a call: it has no `sip.call.*` event and is not in
//! `sip.calls` or `sip.status`'s calls, so nothing that follows calls
//! ("On the phone") sees it.
//!
//! A `session` argument is the SIP plugin's session id, from
//! [`TakeSession`] (incoming) or [`Offer`]'s answer (outgoing).

use serde::{Deserialize, Serialize};

use crate::CommandType;

/// Offered an incoming session before it is answered, by the SIP plugin:
/// the plugin owning non-audio streams provides it. It answers at once:
/// [`Taken`] with no `refuse` keeps the session (the SIP plugin sends 180
/// Ringing and waits for [`Answer`] or [`Reject`]); `refuse` answers the
/// INVITE with that code now. Any error (no provider: `unknown_command`),
/// or no answer within 5 s, answers `488 Not Acceptable Here`, as an
/// INVITE Tandem cannot take. The session id is usable at once: an
/// [`Answer`], [`Reject`] or [`End`] sent before this returns is carried
/// out as soon as the session rings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TakeSession {
    /// The SIP plugin's id for this session.
    pub session: String,
    /// The caller's SIP URI.
    pub peer: String,
    /// The caller's display name, if any.
    pub display_name: Option<String>,
    /// The caller's identity is vouched for (see
    /// [`crate::events::sip::CallIncoming::vouched`]).
    pub vouched: bool,
    /// Where the INVITE came from, `ip:port`.
    pub source: String,
    /// The offer's SDP, byte for byte; for a stream added to a call, the
    /// session-level lines and the new stream's section only (the call's
    /// audio stays the SIP plugin's).
    pub sdp: String,
    /// The call this stream is added to (a re-INVITE within it, RFC 5547's
    /// "session related" transfer); absent for a session of its own. The
    /// re-INVITE is held until [`Answer`] (200, the taker's stream in its
    /// place) or [`Reject`] (603, 600 or 486: the re-INVITE is refused with
    /// it; any other code: the stream gets port 0), for at most
    /// [`IN_CALL_ANSWER_SECONDS`] (then port 0, the session ended
    /// `missed`): the call goes on whatever the taker does.
    pub call: Option<String>,
}

/// How long a stream added to a call (a [`TakeSession`] with `call`) waits
/// for the taker's answer, in seconds: the peer's re-INVITE is held that
/// long at most (decision 0072), so a taker asking a person tells them.
pub const IN_CALL_ANSWER_SECONDS: u64 = 20;
impl CommandType for TakeSession {
    const NAME: &'static str = "sip.take_session";
    type Reply = Taken;
}

/// What [`TakeSession`] answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Taken {
    /// Answer the INVITE with this final code now (`488` for an offer the
    /// taker cannot read, `603` for one it declines without asking);
    /// absent: kept, an answer follows.
    pub refuse: Option<u16>,
}

/// Accepts an incoming session: 200 OK with this SDP. Refused
/// (`invalid_arguments`) for a session that is not waiting for an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    pub session: String,
    /// The answer's SDP.
    pub sdp: String,
}
impl CommandType for Answer {
    const NAME: &'static str = "sip.session.answer";
    type Reply = SessionRef;
}

/// Refuses an incoming session with a status code (default 603 Decline,
/// RFC 5547 §8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reject {
    pub session: String,
    pub code: Option<u16>,
}
impl CommandType for Reject {
    const NAME: &'static str = "sip.session.reject";
    type Reply = SessionRef;
}

/// Starts a session: an INVITE with this SDP. Answers as soon as the INVITE
/// is sent, with the session id (a person answers the other end, long
/// after a command's timeout); `sip.session.answered` or
/// `sip.session.ended` follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Offer {
    /// `sip:bob@example.com`, as for `sip.call`.
    pub to: String,
    /// The offer's SDP.
    pub sdp: String,
    /// Offer it within the call with `to`, if one is up: a re-INVITE
    /// keeping the call's audio and adding this SDP's stream (the reply's
    /// `call` names it). A refusal (port 0, or a final error) ends the
    /// session `rejected` and leaves the call as it was. No such call: a
    /// session of its own, as without this.
    pub in_call: bool,
}
impl CommandType for Offer {
    const NAME: &'static str = "sip.session.offer";
    type Reply = SessionRef;
}

/// Ends a session either way: CANCEL while the INVITE is unanswered, BYE
/// once up, a 487 for an incoming one not answered yet. A session within
/// a call is ended by a re-INVITE that sets its stream's port to 0; the
/// call goes on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct End {
    pub session: String,
}
impl CommandType for End {
    const NAME: &'static str = "sip.session.end";
    type Reply = SessionRef;
}

/// What the session commands answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionRef {
    pub session: String,
    /// The call the session's stream was added to, if it went in one.
    pub call: Option<String>,
}

impl SessionRef {
    /// A session of its own (no call).
    pub fn new(session: impl Into<String>) -> SessionRef {
        SessionRef {
            session: session.into(),
            call: None,
        }
    }
}
