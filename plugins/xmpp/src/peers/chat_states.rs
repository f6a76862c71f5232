//! XEP-0085 chat states: who has shown support, and what was last sent to
//! whom, so the sidecar only sends states to peers that use them and never
//! the same standalone state twice in a row.

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::BareJid;

use crate::convert::chat_state_name as state_name;
use tandem_sdk::util::BoundedMap as Bounded;

/// Peers remembered at most, in each map. Chat states are per
/// conversation, and conversations with people outside the roster are
/// legitimate (XEP-0085 needs no subscription), so these are not limited
/// to roster contacts; but anyone can send a chat state from a JID made
/// up for it, so the maps forget the peers heard from longest ago. A
/// forgotten peer only has to show chat states again.
const MAX_PEERS: usize = 256;

/// What the sidecar knows of each peer's chat states.
pub struct ChatStates {
    supported: Bounded<BareJid, ()>,
    last_sent: Bounded<BareJid, &'static str>,
}

impl Default for ChatStates {
    fn default() -> ChatStates {
        ChatStates {
            supported: Bounded::new(MAX_PEERS),
            last_sent: Bounded::new(MAX_PEERS),
        }
    }
}

/// Whether a state may go out now.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Send,
    /// Same as the last one sent: nothing to do.
    Repeat,
    /// The peer has not shown it uses chat states (XEP-0085 §5.1).
    Unsupported,
}

impl ChatStates {
    /// The peer sent a chat state: it supports them.
    pub fn seen_from(&mut self, peer: BareJid) {
        self.supported.insert(peer, ());
    }

    pub fn decide(&mut self, peer: &BareJid, state: &ChatState) -> Decision {
        if !self.supported.contains_key(peer) {
            return Decision::Unsupported;
        }
        let name = state_name(state);
        if self.last_sent.get(peer) == Some(&name) {
            return Decision::Repeat;
        }
        self.last_sent.insert(peer.clone(), name);
        Decision::Send
    }

    /// A message carries `active` implicitly (XEP-0085 §5.2).
    pub fn message_sent(&mut self, peer: &BareJid) {
        self.last_sent.insert(peer.clone(), "active");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn only_to_peers_that_use_them_and_never_twice() {
        let bob = BareJid::from_str("bob@example.org").unwrap();
        let mut states = ChatStates::default();
        assert_eq!(
            states.decide(&bob, &ChatState::Composing),
            Decision::Unsupported
        );
        states.seen_from(bob.clone());
        assert_eq!(states.decide(&bob, &ChatState::Composing), Decision::Send);
        assert_eq!(states.decide(&bob, &ChatState::Composing), Decision::Repeat);
        assert_eq!(states.decide(&bob, &ChatState::Paused), Decision::Send);
        states.message_sent(&bob);
        assert_eq!(states.decide(&bob, &ChatState::Active), Decision::Repeat);
        assert!(crate::convert::chat_state_from_name("typing").is_none());
    }

    #[test]
    fn strangers_sending_chat_states_from_invented_jids_stay_bounded() {
        let mut states = ChatStates::default();
        let first = BareJid::from_str("spam0@evil.example").unwrap();
        for i in 0..10_000 {
            let peer = BareJid::from_str(&format!("spam{i}@evil.example")).unwrap();
            states.seen_from(peer.clone());
            states.message_sent(&peer);
        }
        assert_eq!(states.supported.len(), MAX_PEERS);
        assert_eq!(states.last_sent.len(), MAX_PEERS);
        // The oldest is forgotten: it has to show chat states again.
        assert_eq!(
            states.decide(&first, &ChatState::Composing),
            Decision::Unsupported
        );
    }
}
