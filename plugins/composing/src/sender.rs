//! The user typing to SIP peers (RFC 3994 §3, the sender's side), driven
//! by the chat states of the user's client (XEP-0085): what to send, and
//! when, so that a peer never sees stale "typing" nor a flood.
//!
//! - `composing` → `active` (with the refresh interval announced), again
//!   only when the announced interval is running out;
//! - no `composing` for `idle_after` → `idle`;
//! - `paused`, `inactive`, `gone` → `idle`, if `active` was sent;
//! - `active` (clients send it with a message) → nothing: the message tells
//!   the peer the user stopped (§3.2);
//! - a peer that answered 415 gets nothing more.

use std::time::{Duration, Instant};

use tandem_sdk::util::BoundedMap;

use crate::document::State;

/// A XEP-0085 chat state of the user's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    Active,
    Composing,
    Paused,
    Inactive,
    Gone,
}

impl ChatState {
    pub fn from_name(name: &str) -> Option<ChatState> {
        Some(match name {
            "active" => ChatState::Active,
            "composing" => ChatState::Composing,
            "paused" => ChatState::Paused,
            "inactive" => ChatState::Inactive,
            "gone" => ChatState::Gone,
            _ => return None,
        })
    }
}

/// What to do for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send this state.
    Send(State),
    /// Nothing to send: the peer already knows.
    Nothing,
    /// The peer refused is-composing (415): never again.
    Refused,
}

/// What has been sent to one peer.
#[derive(Debug, Clone, Copy)]
struct Peer {
    /// `active` went out at this instant and holds; `None`: idle.
    active_sent: Option<Instant>,
    /// The user's last `composing`.
    last_typed: Instant,
    refused: bool,
}

pub struct Sending {
    peers: BoundedMap<String, Peer>,
    /// The `refresh` announced with `active` (≥ 60 s, RFC 3994 §3.1).
    refresh: Duration,
    /// Typing that stopped without a word becomes `idle` after this.
    idle_after: Duration,
}

impl Sending {
    pub fn new(max_peers: usize, refresh: Duration, idle_after: Duration) -> Sending {
        Sending {
            peers: BoundedMap::new(max_peers),
            refresh,
            idle_after,
        }
    }

    /// The refresh interval announced with `active`, in seconds.
    pub fn refresh_seconds(&self) -> u32 {
        u32::try_from(self.refresh.as_secs()).unwrap_or(u32::MAX)
    }

    /// The user's client said `state` towards `peer`.
    pub fn user(&mut self, peer: &str, state: ChatState, now: Instant) -> Action {
        let mut entry = self.peers.get(peer).copied().unwrap_or(Peer {
            active_sent: None,
            last_typed: now,
            refused: false,
        });
        if entry.refused {
            return Action::Refused;
        }
        let action = match state {
            ChatState::Composing => {
                entry.last_typed = now;
                // Refreshed once two thirds of the announced interval passed.
                let due = entry
                    .active_sent
                    .is_none_or(|at| now.duration_since(at) >= self.refresh * 2 / 3);
                if due {
                    entry.active_sent = Some(now);
                    Action::Send(State::Active)
                } else {
                    Action::Nothing
                }
            }
            ChatState::Active => {
                entry.active_sent = None;
                Action::Nothing
            }
            ChatState::Paused | ChatState::Inactive | ChatState::Gone => {
                if entry.active_sent.take().is_some() {
                    Action::Send(State::Idle)
                } else {
                    Action::Nothing
                }
            }
        };
        self.peers.insert(peer.to_owned(), entry);
        action
    }

    /// Peers whose user stopped typing without a word `idle_after` ago:
    /// each now gets `idle`.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let stale: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.active_sent.is_some() && now.duration_since(p.last_typed) >= self.idle_after
            })
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in &stale {
            if let Some(p) = self.peers.get_mut(peer) {
                p.active_sent = None;
            }
        }
        stale
    }

    /// `peer` answered 415: it does not take is-composing.
    pub fn refused(&mut self, peer: &str, now: Instant) {
        self.peers.insert(
            peer.to_owned(),
            Peer {
                active_sent: None,
                last_typed: now,
                refused: true,
            },
        );
    }

    /// Sending `active` failed (not a 415): try again at the next
    /// `composing`.
    pub fn not_sent(&mut self, peer: &str) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.active_sent = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sending() -> Sending {
        Sending::new(8, Duration::from_secs(90), Duration::from_secs(15))
    }

    #[test]
    fn typing_sends_active_once_refreshes_it_and_goes_idle_when_it_stops() {
        let mut s = sending();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(
            s.user("p", ChatState::Composing, t0),
            Action::Send(State::Active)
        );
        assert_eq!(s.user("p", ChatState::Composing, at(10)), Action::Nothing);
        // Typing on: refreshed before the announced 90 s run out.
        assert_eq!(s.user("p", ChatState::Composing, at(20)), Action::Nothing);
        assert_eq!(
            s.user("p", ChatState::Composing, at(61)),
            Action::Send(State::Active)
        );
        assert!(s.due(at(70)).is_empty());
        assert_eq!(s.due(at(76)), vec!["p".to_owned()], "15 s without typing");
        assert!(s.due(at(200)).is_empty(), "idle once");
        assert_eq!(s.user("p", ChatState::Paused, at(201)), Action::Nothing);
    }

    #[test]
    fn a_pause_sends_idle_and_a_message_ends_typing_silently() {
        let mut s = sending();
        let t0 = Instant::now();
        s.user("p", ChatState::Composing, t0);
        assert_eq!(
            s.user("p", ChatState::Paused, t0),
            Action::Send(State::Idle)
        );
        assert_eq!(s.user("p", ChatState::Gone, t0), Action::Nothing);
        s.user("p", ChatState::Composing, t0);
        assert_eq!(s.user("p", ChatState::Active, t0), Action::Nothing);
        assert!(s.due(t0 + Duration::from_secs(60)).is_empty());
        assert_eq!(
            s.user("p", ChatState::Composing, t0),
            Action::Send(State::Active)
        );
    }

    #[test]
    fn a_peer_that_refused_gets_nothing_more() {
        let mut s = sending();
        let t0 = Instant::now();
        s.user("p", ChatState::Composing, t0);
        s.refused("p", t0);
        assert_eq!(s.user("p", ChatState::Composing, t0), Action::Refused);
        assert!(s.due(t0 + Duration::from_secs(60)).is_empty());
        assert_eq!(
            s.user("q", ChatState::Composing, t0),
            Action::Send(State::Active)
        );
    }

    #[test]
    fn a_failed_send_is_tried_again_at_the_next_keystroke() {
        let mut s = sending();
        let t0 = Instant::now();
        s.user("p", ChatState::Composing, t0);
        s.not_sent("p");
        assert_eq!(
            s.user("p", ChatState::Composing, t0),
            Action::Send(State::Active)
        );
    }
}
