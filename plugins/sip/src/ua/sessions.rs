//! SIP sessions that are not calls (decision 0066): an INVITE whose only
//! live streams are not audio (an MSRP file transfer, `m=message`). The
//! plugin signals them and carries their SDP as text for the plugin that
//! owns the stream; they live in their own table, beside the calls, so
//! nothing that follows calls (`sip.calls`, `sip.status`, `sip.call.*`,
//! `max_ringing`) ever sees one, and no RTP is ever set up for them.

use std::collections::HashMap;

use rsipstack::dialog::dialog::TerminatedReason;
use rsipstack::dialog::invite_dialog::InviteDialog;
use tandem_sdk::events::sip::{Direction, EndReason};

/// Whether an offer is a session rather than a call: no live audio stream
/// (port 0 is a refused one, RFC 3264 §6) and at least one live stream of
/// another kind. An offer with live audio stays a call, whatever else it
/// carries. Only the `m=` lines are read: the rest is the taker's to
/// judge (RFC 5547's examples name a host in `c=`, which a call's SDP
/// check refuses).
pub fn is_session_offer(offer: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(offer) else {
        return false;
    };
    let mut live = text
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("m="))
        .filter_map(|media| {
            let mut parts = media.split_whitespace();
            let kind = parts.next()?;
            let port = parts.next()?.split('/').next()?;
            (port.parse::<u16>().ok()? != 0).then_some(kind)
        })
        .peekable();
    live.peek().is_some() && live.all(|kind| kind != "audio")
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Incoming, offered with `sip.take_session`, which has not answered
    /// yet: a command for it now is kept in [`Session::pending`].
    Offered,
    /// Incoming, kept by its taker (180 sent), waiting for
    /// `sip.session.answer` or `sip.session.reject`.
    Ringing,
    /// Incoming, answered 200; waiting for the peer's ACK.
    Answered,
    /// Outgoing, no final answer yet.
    Calling,
    /// Established (ACK received or sent).
    Up,
}

pub struct Session {
    pub id: String,
    pub peer: String,
    pub direction: Direction,
    pub state: SessionState,
    pub dialog: Option<InviteDialog>,
    /// The SIP Call-ID, to find the session from dialog events.
    pub sip_call_id: String,
    /// How it ended when we ended it (reject, end, ring timeout): what the
    /// dialog layer reports afterwards says less (rsipstack calls every
    /// refusal a 603 decline).
    pub ended_by_us: Option<(EndReason, Option<u16>)>,
    /// A command that came while the taker was still answering
    /// `sip.take_session` (a taker that asks nobody answers or refuses at
    /// once): carried out once the session rings.
    pub pending: Option<Pending>,
    /// A stream added to a call (decision 0072): the session shares the
    /// call's dialog and is not indexed by its Call-ID, so the call's
    /// dialog events stay the call's.
    pub in_call: Option<InCall>,
}

/// A session whose stream lives in a call's SDP (a re-INVITE added it).
pub struct InCall {
    /// Tandem's id of the call.
    pub call: String,
    /// The stream's m-line position in the call's SDP.
    pub slot: usize,
    /// Incoming, while the re-INVITE waits: where the taker's answer goes.
    pub decision: Option<tokio::sync::oneshot::Sender<Decision>>,
}

/// What the taker of a stream added to a call said while its re-INVITE
/// waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Accepted with this SDP (one stream).
    Answer(String),
    /// Refused: the stream gets port 0; the session ends for this reason.
    Refuse(EndReason, Option<u16>),
}

/// A command for a session still [`SessionState::Offered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Answer(String),
    Reject(u16),
    End,
}

impl Session {
    pub fn new(id: String, peer: String, direction: Direction, sip_call_id: String) -> Self {
        Session {
            id,
            peer,
            direction,
            state: match direction {
                Direction::Incoming => SessionState::Offered,
                Direction::Outgoing => SessionState::Calling,
            },
            dialog: None,
            sip_call_id,
            ended_by_us: None,
            pending: None,
            in_call: None,
        }
    }

    /// The call this session's stream belongs to, if any.
    pub fn call(&self) -> Option<&str> {
        self.in_call.as_ref().map(|c| c.call.as_str())
    }

    /// Why it ended and the status code, given what the other side or the
    /// network did (`remote`): ours when we ended it.
    pub fn end_reason(&self, remote: (EndReason, Option<u16>)) -> (EndReason, Option<u16>) {
        self.ended_by_us.clone().unwrap_or(remote)
    }

    /// What `sip.session.end` does now, and the reason it ends with.
    pub fn ending(&self) -> Ending {
        match self.state {
            SessionState::Offered | SessionState::Ringing => Ending::Refuse,
            SessionState::Calling => Ending::Cancel,
            SessionState::Answered | SessionState::Up => Ending::Bye,
        }
    }
}

/// How a session we end is ended on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Incoming, not answered: 487 Request Terminated, as if the caller
    /// had cancelled (reason `cancelled`).
    Refuse,
    /// Outgoing, not answered: CANCEL (reason `cancelled`).
    Cancel,
    /// Answered: BYE (reason `hangup`).
    Bye,
}

impl Ending {
    pub fn reason(self) -> (EndReason, Option<u16>) {
        match self {
            Ending::Refuse => (EndReason::Cancelled, Some(487)),
            Ending::Cancel => (EndReason::Cancelled, None),
            Ending::Bye => (EndReason::Hangup, None),
        }
    }
}

/// Why a session ended when the other side or the network ended it (a
/// CANCEL is the caller giving up: `cancelled`, where a call says `missed`
/// to the person who did not answer).
pub fn remote_reason(reason: &TerminatedReason) -> (EndReason, Option<u16>) {
    match reason {
        TerminatedReason::Timeout => (EndReason::Failed, Some(408)),
        TerminatedReason::UacCancel => (EndReason::Cancelled, Some(487)),
        TerminatedReason::UacBye | TerminatedReason::UasBye => (EndReason::RemoteHangup, None),
        TerminatedReason::UacBusy | TerminatedReason::UasBusy => (EndReason::Rejected, Some(486)),
        TerminatedReason::UasDecline => (EndReason::Rejected, Some(603)),
        TerminatedReason::ProxyAuthRequired => (EndReason::Failed, Some(407)),
        TerminatedReason::ProxyError(code)
        | TerminatedReason::UacOther(code)
        | TerminatedReason::UasOther(code) => (EndReason::Rejected, Some(u16::from(code.clone()))),
    }
}

/// All sessions, with the index from SIP Call-ID.
#[derive(Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
    by_sip_call_id: HashMap<String, String>,
}

impl Sessions {
    pub fn insert(&mut self, session: Session) {
        if session.in_call.is_none() {
            self.by_sip_call_id
                .insert(session.sip_call_id.clone(), session.id.clone());
        }
        self.by_id.insert(session.id.clone(), session);
    }

    /// The session whose stream is in call `call`, if any (one at a time).
    pub fn of_call(&mut self, call: &str) -> Option<&mut Session> {
        self.by_id.values_mut().find(|s| s.call() == Some(call))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.by_id.get_mut(id)
    }

    pub fn by_sip_call_id(&mut self, sip_call_id: &str) -> Option<&mut Session> {
        let id = self.by_sip_call_id.get(sip_call_id)?;
        self.by_id.get_mut(id)
    }

    pub fn remove(&mut self, id: &str) -> Option<Session> {
        let session = self.by_id.remove(id)?;
        if session.in_call.is_none() {
            self.by_sip_call_id.remove(&session.sip_call_id);
        }
        Some(session)
    }

    pub fn ids(&self) -> Vec<String> {
        self.by_id.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(media: &str) -> Vec<u8> {
        format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 alicepc.example.com\r\nt=0 0\r\n{media}")
            .into_bytes()
    }

    #[test]
    fn only_an_offer_without_live_audio_and_with_another_live_stream_is_a_session() {
        let msrp = "m=message 7654 TCP/MSRP *\r\na=sendonly\r\n";
        let audio = "m=audio 4000 RTP/AVP 0\r\n";
        let no_audio = "m=audio 0 RTP/AVP 0\r\n";
        assert!(is_session_offer(&offer(msrp)));
        assert!(is_session_offer(&offer(&format!("{no_audio}{msrp}"))));
        assert!(!is_session_offer(&offer(&format!("{audio}{msrp}"))));
        assert!(!is_session_offer(&offer(audio)));
        assert!(!is_session_offer(&offer("m=message 0 TCP/MSRP *\r\n")));
        assert!(!is_session_offer(&offer("")));
        assert!(!is_session_offer(b"m=message 7654 TCP/MSRP *\xff"));
    }

    #[test]
    fn our_reason_wins_over_what_the_dialog_layer_reports() {
        let mut session = Session::new(
            "s".into(),
            "sip:x@y".into(),
            Direction::Incoming,
            "c".into(),
        );
        let declined = remote_reason(&TerminatedReason::UasDecline);
        assert_eq!(session.end_reason(declined.clone()), declined);
        session.ended_by_us = Some((EndReason::Missed, Some(480)));
        assert_eq!(session.end_reason(declined), (EndReason::Missed, Some(480)));
        assert_eq!(
            remote_reason(&TerminatedReason::UacCancel),
            (EndReason::Cancelled, Some(487))
        );
        assert_eq!(
            remote_reason(&TerminatedReason::UacBye).0,
            EndReason::RemoteHangup
        );
    }

    #[test]
    fn ending_follows_the_state() {
        let mut incoming = Session::new("a".into(), "p".into(), Direction::Incoming, "1".into());
        assert_eq!(incoming.state, SessionState::Offered);
        assert_eq!(incoming.ending(), Ending::Refuse);
        incoming.state = SessionState::Ringing;
        assert_eq!(incoming.ending(), Ending::Refuse);
        incoming.state = SessionState::Answered;
        assert_eq!(incoming.ending(), Ending::Bye);
        let mut outgoing = Session::new("b".into(), "p".into(), Direction::Outgoing, "2".into());
        assert_eq!(outgoing.ending(), Ending::Cancel);
        outgoing.state = SessionState::Up;
        assert_eq!(outgoing.ending(), Ending::Bye);
        assert_eq!(Ending::Refuse.reason(), (EndReason::Cancelled, Some(487)));
    }

    #[test]
    fn found_again_by_sip_call_id_until_removed() {
        let mut sessions = Sessions::default();
        sessions.insert(Session::new(
            "a".into(),
            "p".into(),
            Direction::Incoming,
            "c-a".into(),
        ));
        assert_eq!(sessions.by_sip_call_id("c-a").unwrap().id, "a");
        assert_eq!(sessions.ids(), vec!["a".to_owned()]);
        sessions.remove("a");
        assert!(sessions.by_sip_call_id("c-a").is_none());
    }
}
