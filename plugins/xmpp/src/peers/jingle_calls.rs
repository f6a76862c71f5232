//! The user's XMPP calls (XEP-0353 Jingle Message Initiation) as the
//! sidecar sees them go by: proposed, ringing, started, ended. Plain state
//! with the time passed in; the session feeds it messages and publishes
//! what changed.
//!
//! Anyone may propose a call to the user, so the table is bounded
//! ([`MAX_CALLS`], unanswered proposals forgotten first) and every entry
//! expires: a proposal nobody answers after [`RING_TIMEOUT`], a call whose
//! end was never seen after [`MAX_CALL`], or when the user's device in it
//! goes offline. Only the party each step belongs to may take it: the
//! user's own account answers an incoming call, the peer an outgoing one,
//! so a stranger cannot make the user look busy by naming a session id.

use std::time::{Duration, Instant};

use xmpp_parsers::jid::{BareJid, Jid};

use crate::xep::jingle_message::{JingleMessage, Kind};

/// Calls remembered at most.
pub const MAX_CALLS: usize = 32;
/// A proposal is forgotten (ended, `expired`) when nothing answered it in
/// this time; clients stop ringing well before.
pub const RING_TIMEOUT: Duration = Duration::from_secs(120);
/// A started call whose end was never seen ends after this.
pub const MAX_CALL: Duration = Duration::from_secs(8 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The peer called the user.
    Incoming,
    /// The user called the peer.
    Outgoing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Proposed,
    Ringing,
    Started,
}

/// Why a call left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Rejected,
    Retracted,
    Finished,
    /// Nothing was heard of it in time.
    Expired,
    /// The user's device in the call went offline.
    DeviceGone,
}

/// One call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub id: String,
    pub peer: BareJid,
    /// The peer's client, when known (the initiator's, for a call to the
    /// user): where a `<reject>` goes.
    pub peer_client: Option<Jid>,
    pub direction: Direction,
    pub media: Vec<String>,
    pub stage: Stage,
    /// The user's client in the call (full JID), when known.
    pub device: Option<String>,
    pub proposed_at: Instant,
    pub started_at: Option<Instant>,
}

/// What a message or the passing of time changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Proposed(Call),
    Ringing(Call),
    Started(Call),
    Ended {
        call: Call,
        reason: EndReason,
        /// The XEP-0166 condition the message gave (`busy`, `success`).
        condition: Option<String>,
        /// How long it was up (zero if it never started).
        duration: Duration,
    },
}

/// The calls, newest last.
#[derive(Debug, Default)]
pub struct Calls {
    calls: Vec<Call>,
}

impl Calls {
    pub fn get(&self, id: &str) -> Option<&Call> {
        self.calls.iter().find(|c| c.id == id)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.calls.len()
    }

    /// A Jingle message `from` → `to` as seen on the user's account `own`
    /// (a Carbon's inner message, or one sent to the sidecar).
    pub fn observe(
        &mut self,
        message: &JingleMessage,
        from: &Jid,
        to: Option<&Jid>,
        own: &BareJid,
        now: Instant,
    ) -> Option<Change> {
        let by_user = from.to_bare() == *own;
        if let Kind::Propose { media } = &message.kind {
            if self.get(&message.id).is_some() {
                return None; // the same proposal again (a Carbon and a copy)
            }
            let (direction, peer, peer_client, device) = if by_user {
                let to = to?;
                if to.to_bare() == *own {
                    return None; // to oneself: not a call with anyone
                }
                let client = to.resource().is_some().then(|| to.clone());
                (
                    Direction::Outgoing,
                    to.to_bare(),
                    client,
                    Some(from.to_string()),
                )
            } else {
                (
                    Direction::Incoming,
                    from.to_bare(),
                    Some(from.clone()),
                    None,
                )
            };
            let call = Call {
                id: message.id.clone(),
                peer,
                peer_client,
                direction,
                media: media.clone(),
                stage: Stage::Proposed,
                device,
                proposed_at: now,
                started_at: None,
            };
            self.make_room();
            self.calls.push(call.clone());
            return Some(Change::Proposed(call));
        }
        let index = self.calls.iter().position(|c| c.id == message.id)?;
        let call = &mut self.calls[index];
        if !by_user && from.to_bare() != call.peer {
            return None; // a third party naming someone else's session
        }
        // The answering side's steps: the user's for an incoming call.
        let by_responder = by_user == (call.direction == Direction::Incoming);
        match message.kind {
            Kind::Propose { .. } => None,
            Kind::Ringing if by_responder && call.stage == Stage::Proposed => {
                call.stage = Stage::Ringing;
                Some(Change::Ringing(call.clone()))
            }
            Kind::Proceed | Kind::Accept if by_responder && call.stage != Stage::Started => {
                call.stage = Stage::Started;
                call.started_at = Some(now);
                if by_user {
                    call.device = Some(from.to_string());
                } else if from.resource().is_some() {
                    call.peer_client = Some(from.clone());
                }
                Some(Change::Started(call.clone()))
            }
            Kind::Reject if by_responder && call.stage != Stage::Started => {
                Some(self.end(index, EndReason::Rejected, message.reason.clone(), now))
            }
            Kind::Retract if !by_responder && call.stage != Stage::Started => {
                Some(self.end(index, EndReason::Retracted, message.reason.clone(), now))
            }
            Kind::Finish => Some(self.end(index, EndReason::Finished, message.reason.clone(), now)),
            _ => None,
        }
    }

    /// Ends what nothing was heard of in time.
    pub fn expire(&mut self, now: Instant) -> Vec<Change> {
        self.end_where(now, EndReason::Expired, |call| match call.started_at {
            None => now.duration_since(call.proposed_at) >= RING_TIMEOUT,
            Some(at) => now.duration_since(at) >= MAX_CALL,
        })
    }

    /// The user's client `device` (full JID) went offline: its calls end.
    pub fn device_gone(&mut self, device: &str, now: Instant) -> Vec<Change> {
        self.end_where(now, EndReason::DeviceGone, |call| {
            call.device.as_deref() == Some(device)
        })
    }

    /// The session was declined by the sidecar: it is over.
    pub fn declined(&mut self, id: &str, condition: &str, now: Instant) -> Option<Change> {
        let index = self.calls.iter().position(|c| c.id == id)?;
        Some(self.end(index, EndReason::Rejected, Some(condition.to_owned()), now))
    }

    fn end_where(
        &mut self,
        now: Instant,
        reason: EndReason,
        pred: impl Fn(&Call) -> bool,
    ) -> Vec<Change> {
        let mut ended = Vec::new();
        let mut i = 0;
        while i < self.calls.len() {
            if pred(&self.calls[i]) {
                ended.push(self.end(i, reason, None, now));
            } else {
                i += 1;
            }
        }
        ended
    }

    fn end(
        &mut self,
        index: usize,
        reason: EndReason,
        condition: Option<String>,
        now: Instant,
    ) -> Change {
        let call = self.calls.remove(index);
        let duration = call
            .started_at
            .map_or(Duration::ZERO, |at| now.duration_since(at));
        Change::Ended {
            call,
            reason,
            condition,
            duration,
        }
    }

    /// Room for one more: the oldest unanswered proposal goes first (a
    /// flood of proposals must not push out a call in progress), else the
    /// oldest call.
    fn make_room(&mut self) {
        if self.calls.len() < MAX_CALLS {
            return;
        }
        let index = self
            .calls
            .iter()
            .position(|c| c.stage != Stage::Started)
            .unwrap_or(0);
        self.calls.remove(index);
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::from_str(s).unwrap()
    }

    fn own() -> BareJid {
        BareJid::from_str("alice@example.org").unwrap()
    }

    fn message(id: &str, kind: Kind) -> JingleMessage {
        JingleMessage {
            id: id.into(),
            kind,
            reason: None,
        }
    }

    fn propose(id: &str) -> JingleMessage {
        message(
            id,
            Kind::Propose {
                media: vec!["audio".into()],
            },
        )
    }

    #[test]
    fn an_incoming_call_answered_on_the_phone_and_finished() {
        let (mut calls, t0) = (Calls::default(), Instant::now());
        let bob = jid("bob@example.net/phone");
        let me = jid("alice@example.org/conversations");
        let p = calls.observe(
            &propose("s1"),
            &bob,
            Some(&jid("alice@example.org")),
            &own(),
            t0,
        );
        assert!(matches!(
            p,
            Some(Change::Proposed(Call {
                direction: Direction::Incoming,
                ..
            }))
        ));
        // Bob cannot answer his own call for the user.
        assert_eq!(
            calls.observe(&message("s1", Kind::Proceed), &bob, None, &own(), t0),
            None
        );
        let ringing = calls.observe(&message("s1", Kind::Ringing), &me, Some(&bob), &own(), t0);
        assert!(matches!(ringing, Some(Change::Ringing(_))));
        let t1 = t0 + Duration::from_secs(5);
        let Some(Change::Started(call)) =
            calls.observe(&message("s1", Kind::Proceed), &me, Some(&bob), &own(), t1)
        else {
            panic!("not started")
        };
        assert_eq!(
            call.device.as_deref(),
            Some("alice@example.org/conversations")
        );
        // A proceed repeated (another copy) changes nothing.
        assert_eq!(
            calls.observe(&message("s1", Kind::Proceed), &me, Some(&bob), &own(), t1),
            None
        );
        let t2 = t1 + Duration::from_secs(42);
        let ended = calls.observe(&message("s1", Kind::Finish), &bob, None, &own(), t2);
        assert!(matches!(
            ended,
            Some(Change::Ended { reason: EndReason::Finished, duration, .. }) if duration == Duration::from_secs(42)
        ));
        assert!(calls.get("s1").is_none());
    }

    #[test]
    fn an_outgoing_call_is_the_peers_to_answer() {
        let (mut calls, t0) = (Calls::default(), Instant::now());
        let me = jid("alice@example.org/dino");
        let carol = jid("carol@example.net/gajim");
        let p = calls.observe(
            &propose("o1"),
            &me,
            Some(&jid("carol@example.net")),
            &own(),
            t0,
        );
        let Some(Change::Proposed(call)) = p else {
            panic!()
        };
        assert_eq!(
            (call.direction, call.peer.as_str()),
            (Direction::Outgoing, "carol@example.net")
        );
        // A stranger's proceed is nothing; the user's own too.
        let mallory = jid("mallory@evil.example/x");
        assert_eq!(
            calls.observe(&message("o1", Kind::Proceed), &mallory, None, &own(), t0),
            None
        );
        assert_eq!(
            calls.observe(&message("o1", Kind::Proceed), &me, None, &own(), t0),
            None
        );
        let started = calls.observe(&message("o1", Kind::Proceed), &carol, Some(&me), &own(), t0);
        assert!(matches!(started, Some(Change::Started(_))));
        // The user's device leaving ends it.
        let gone = calls.device_gone("alice@example.org/dino", t0);
        assert!(matches!(
            gone.as_slice(),
            [Change::Ended {
                reason: EndReason::DeviceGone,
                ..
            }]
        ));
    }

    #[test]
    fn rejected_retracted_and_expired() {
        let (mut calls, t0) = (Calls::default(), Instant::now());
        let bob = jid("bob@example.net/phone");
        let me = jid("alice@example.org/phone");
        calls.observe(&propose("r1"), &bob, None, &own(), t0);
        calls.observe(&propose("r2"), &bob, None, &own(), t0);
        calls.observe(&propose("r3"), &bob, None, &own(), t0);
        let mut busy = message("r1", Kind::Reject);
        busy.reason = Some("busy".into());
        let rejected = calls.observe(&busy, &me, Some(&bob), &own(), t0);
        assert!(matches!(
            rejected,
            Some(Change::Ended { reason: EndReason::Rejected, condition: Some(ref c), .. }) if c == "busy"
        ));
        // Only the initiator retracts.
        assert_eq!(
            calls.observe(&message("r2", Kind::Retract), &me, None, &own(), t0),
            None
        );
        let retracted = calls.observe(&message("r2", Kind::Retract), &bob, None, &own(), t0);
        assert!(matches!(
            retracted,
            Some(Change::Ended {
                reason: EndReason::Retracted,
                ..
            })
        ));
        assert!(calls.expire(t0 + RING_TIMEOUT / 2).is_empty());
        let expired = calls.expire(t0 + RING_TIMEOUT);
        assert!(matches!(
            expired.as_slice(),
            [Change::Ended {
                reason: EndReason::Expired,
                ..
            }]
        ));
        assert_eq!(calls.len(), 0);
    }

    #[test]
    fn a_flood_of_proposals_keeps_the_call_in_progress() {
        let (mut calls, t0) = (Calls::default(), Instant::now());
        let bob = jid("bob@example.net/phone");
        let me = jid("alice@example.org/phone");
        calls.observe(&propose("up"), &bob, None, &own(), t0);
        calls.observe(&message("up", Kind::Proceed), &me, Some(&bob), &own(), t0);
        for n in 0..3 * MAX_CALLS {
            let stranger = jid(&format!("s{n}@evil.example/x"));
            calls.observe(&propose(&format!("f{n}")), &stranger, None, &own(), t0);
        }
        assert_eq!(calls.len(), MAX_CALLS);
        assert_eq!(calls.get("up").map(|c| c.stage), Some(Stage::Started));
        // A call whose end was never heard of ends in the end.
        let late = calls.expire(t0 + MAX_CALL);
        assert_eq!(late.len(), MAX_CALLS);
    }
}
