//! Tandem's view of its calls: one entry per call, keyed by an unforgeable
//! call id handed to rules and `tandem ctl`, and found again from the SIP
//! Call-ID when the dialog layer reports a state change.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use rsipstack::dialog::invite_dialog::InviteDialog;
use tandem_sdk::commands::sip::CallInfo;
use tandem_sdk::events::sip::{Direction, MediaStats};
use tandem_sdk::tokio::task::AbortHandle;

use crate::config::encryption::Encryption;
use crate::media::srtp::MasterKey;
use crate::media::{ActiveMedia, PreparedMedia};

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Incoming, not answered yet.
    Ringing,
    /// Outgoing, no final answer yet.
    Calling,
    /// Answered (200 OK sent or received).
    Up,
    Held,
}

impl CallState {
    pub fn name(self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Calling => "calling",
            CallState::Up => "up",
            CallState::Held => "held",
        }
    }
}

pub struct Call {
    pub id: String,
    pub peer: String,
    pub display_name: Option<String>,
    /// Our RFC 7989 Session-ID UUID for this call, and the peer's.
    pub session_id: String,
    pub peer_session_id: Option<String>,
    pub direction: Direction,
    pub state: CallState,
    pub dialog: Option<InviteDialog>,
    /// The SIP Call-ID, to find this call from dialog events.
    pub sip_call_id: String,
    /// Sockets bound for this call before the SDP is sent.
    pub prepared: Option<PreparedMedia>,
    /// The peer's offer (incoming calls), answered on `sip.answer`.
    pub offer: Option<Vec<u8>>,
    pub media: Option<ActiveMedia>,
    /// Our RTP port, offered again in re-INVITEs.
    /// The SRTP master key our SDP carries (re-INVITEs keep it).
    pub media_key: Option<MasterKey>,
    /// Whether this call's media is encrypted (`media_encryption`, or the
    /// default for its signalling transport).
    pub encryption: Encryption,
    pub media_port: Option<u16>,
    /// The address our SDP names in this call, chosen once when it starts
    /// (toward the peer, for a wildcard bind) and kept for re-INVITEs.
    pub media_address: Option<std::net::IpAddr>,
    /// Where an outgoing INVITE went, when known as an address: an ICMP
    /// error from there ends the call (`unreachable.rs`).
    pub destination: Option<std::net::SocketAddr>,
    pub answered_at: Option<Instant>,
    /// When it began ringing or was placed (for the recent calls).
    pub started: SystemTime,
    /// We ended it (BYE/CANCEL/reject sent by us), so the reason is ours.
    pub ended_locally: bool,
    /// The status we rejected it with: rsipstack reports every rejection
    /// as a decline (603), whatever code went out.
    pub rejected_with: Option<u16>,
    /// Why we ended it when it was not the user's choice (`media_timeout`).
    pub end_reason: Option<&'static str>,
    /// Whether `sip.call.answered` went out (Confirmed also follows re-INVITEs).
    pub announced: bool,
    pub announced_ringing: bool,
    /// The ring timeout's task while the call rings (`ring_timeout`).
    pub ring_timer: Option<RingTimer>,
    /// The call's m-lines beside the audio, in order, as our SDP has them
    /// (`None`: the audio): empty while the call has only ever had audio.
    /// Our later offers keep them (RFC 3264 §8): what the first offer had
    /// beside the audio (a video we answered with port 0), a stream added
    /// to the call (decision 0072) with its section, an ended one with
    /// port 0.
    pub layout: Vec<Option<String>>,
}

/// The task that gives up an unanswered incoming call, stopped as soon as
/// the call no longer rings (answered, or gone): a sleeping task kept for
/// the whole `ring_timeout_seconds` after a call is over was the largest
/// share of memory under call load (decision 0069).
pub struct RingTimer(Option<AbortHandle>);

impl RingTimer {
    pub fn new(task: AbortHandle) -> RingTimer {
        RingTimer(Some(task))
    }

    /// Lets the task run on: it is the one ending the call.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RingTimer {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Call {
    pub fn new(id: String, peer: String, direction: Direction, sip_call_id: String) -> Self {
        Call {
            id,
            peer,
            display_name: None,
            session_id: new_call_id(),
            peer_session_id: None,
            direction,
            state: match direction {
                Direction::Incoming => CallState::Ringing,
                Direction::Outgoing => CallState::Calling,
            },
            dialog: None,
            sip_call_id,
            prepared: None,
            offer: None,
            media: None,
            media_port: None,
            media_key: None,
            encryption: Encryption::None,
            media_address: None,
            destination: None,
            answered_at: None,
            started: SystemTime::now(),
            ended_locally: false,
            rejected_with: None,
            end_reason: None,
            announced: false,
            announced_ringing: false,
            ring_timer: None,
            layout: Vec::new(),
        }
    }

    pub fn duration(&self) -> f64 {
        self.answered_at
            .map_or(0.0, |at| at.elapsed().as_secs_f64())
    }

    pub fn media_stats(&self) -> MediaStats {
        self.media
            .as_ref()
            .map(ActiveMedia::stats)
            .unwrap_or_default()
    }

    pub fn info(&self) -> CallInfo {
        CallInfo {
            call: self.id.clone(),
            peer: self.peer.clone(),
            display_name: self.display_name.clone(),
            direction: self.direction,
            state: self.state.name().to_owned(),
            duration: self.duration(),
            media: self.media_stats(),
        }
    }
}

/// A call id nobody can guess: 128 random bits. A rule or a client that was
/// never told about a call cannot act on it.
pub fn new_call_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// All calls, with the index from SIP Call-ID.
#[derive(Default)]
pub struct Calls {
    by_id: HashMap<String, Call>,
    by_sip_call_id: HashMap<String, String>,
}

/// Why a command could not pick a call.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickError {
    #[error("no call {0:?}")]
    Unknown(String),
    #[error("there is no {0} call")]
    None(&'static str),
    #[error("{0} calls are {1}: say which one (call = \"…\")")]
    Ambiguous(usize, &'static str),
}

/// An incoming call turned away because enough ring already.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{ringing} calls are ringing already (max_ringing = {max})")]
pub struct Busy {
    pub ringing: usize,
    pub max: usize,
}

impl Calls {
    /// Takes a new incoming call unless `max` calls ring already. The count
    /// and the insert happen under the one lock the caller holds, so
    /// INVITEs handled at the same moment cannot all slip under the cap.
    /// Calls answered, held or going out do not count.
    pub fn admit_ringing(&mut self, call: Call, max: usize) -> Result<(), Busy> {
        let ringing = self
            .by_id
            .values()
            .filter(|c| c.state == CallState::Ringing)
            .count();
        if ringing >= max {
            return Err(Busy { ringing, max });
        }
        self.insert(call);
        Ok(())
    }

    pub fn insert(&mut self, call: Call) {
        self.by_sip_call_id
            .insert(call.sip_call_id.clone(), call.id.clone());
        self.by_id.insert(call.id.clone(), call);
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Call> {
        self.by_id.get_mut(id)
    }

    pub fn by_sip_call_id(&mut self, sip_call_id: &str) -> Option<&mut Call> {
        let id = self.by_sip_call_id.get(sip_call_id)?;
        self.by_id.get_mut(id)
    }

    pub fn remove(&mut self, id: &str) -> Option<Call> {
        let call = self.by_id.remove(id)?;
        self.by_sip_call_id.remove(&call.sip_call_id);
        Some(call)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The ids of the calls `which` picks.
    pub fn ids_where(&self, which: impl Fn(&Call) -> bool) -> Vec<String> {
        self.by_id
            .values()
            .filter(|c| which(c))
            .map(|c| c.id.clone())
            .collect()
    }

    pub fn ids(&self) -> Vec<String> {
        self.by_id.keys().cloned().collect()
    }

    pub fn infos(&self) -> Vec<CallInfo> {
        let mut infos: Vec<_> = self.by_id.values().map(Call::info).collect();
        infos.sort_by(|a, b| a.call.cmp(&b.call));
        infos
    }

    /// The call a command means: the one named, or else the only one in a
    /// state `wanted` accepts (`what` names that state for the error).
    pub fn pick(
        &mut self,
        id: Option<&str>,
        what: &'static str,
        wanted: impl Fn(&Call) -> bool,
    ) -> Result<&mut Call, PickError> {
        if let Some(id) = id {
            return self
                .by_id
                .get_mut(id)
                .ok_or_else(|| PickError::Unknown(id.to_owned()));
        }
        let matching: Vec<String> = self
            .by_id
            .values()
            .filter(|c| wanted(c))
            .map(|c| c.id.clone())
            .collect();
        match matching.as_slice() {
            [] => Err(PickError::None(what)),
            [only] => Ok(self.by_id.get_mut(only).expect("id taken from the map")),
            many => Err(PickError::Ambiguous(many.len(), what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, direction: Direction) -> Call {
        Call::new(id.into(), "sip:x@y".into(), direction, format!("sip-{id}"))
    }

    #[test]
    fn call_ids_are_long_and_distinct() {
        let a = new_call_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_call_id());
    }

    #[test]
    fn pick_names_the_problem() {
        let mut calls = Calls::default();
        let ringing = |c: &Call| c.state == CallState::Ringing;
        assert_eq!(
            calls.pick(None, "ringing", ringing).err(),
            Some(PickError::None("ringing"))
        );
        calls.insert(call("a", Direction::Incoming));
        calls.insert(call("b", Direction::Outgoing));
        assert_eq!(calls.pick(None, "ringing", ringing).unwrap().id, "a");
        calls.insert(call("c", Direction::Incoming));
        assert_eq!(
            calls.pick(None, "ringing", ringing).err(),
            Some(PickError::Ambiguous(2, "ringing"))
        );
        assert_eq!(calls.pick(Some("b"), "ringing", ringing).unwrap().id, "b");
        assert!(matches!(
            calls.pick(Some("zz"), "ringing", ringing),
            Err(PickError::Unknown(_))
        ));
    }

    #[test]
    fn only_ringing_calls_count_against_the_cap() {
        let mut calls = Calls::default();
        calls
            .admit_ringing(call("a", Direction::Incoming), 2)
            .unwrap();
        calls
            .admit_ringing(call("b", Direction::Incoming), 2)
            .unwrap();
        assert_eq!(
            calls.admit_ringing(call("c", Direction::Incoming), 2),
            Err(Busy { ringing: 2, max: 2 })
        );
        assert_eq!(calls.len(), 2, "the refused call is not kept");
        // Calls going out, and calls answered, do not ring here.
        calls.insert(call("out", Direction::Outgoing));
        calls.get_mut("a").unwrap().state = CallState::Up;
        calls
            .admit_ringing(call("d", Direction::Incoming), 2)
            .unwrap();
        calls.remove("b");
        calls
            .admit_ringing(call("e", Direction::Incoming), 2)
            .unwrap();
        assert!(calls
            .admit_ringing(call("f", Direction::Incoming), 2)
            .is_err());
    }

    #[test]
    fn found_again_by_sip_call_id_until_removed() {
        let mut calls = Calls::default();
        calls.insert(call("a", Direction::Incoming));
        assert_eq!(calls.by_sip_call_id("sip-a").unwrap().id, "a");
        calls.remove("a");
        assert!(calls.by_sip_call_id("sip-a").is_none());
        assert_eq!(calls.len(), 0);
    }
}
