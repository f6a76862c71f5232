//! Peers typing to the user (RFC 3994 §4, the receiver's side): `active`
//! holds until `idle`, a message from them, or the refresh interval they
//! gave passing without a new `active`.

use std::time::{Duration, Instant};

use tandem_sdk::util::BoundedMap;

use crate::document::{Indication, State};

/// Who is typing to the user now, and until when at the latest.
pub struct Receiving {
    /// Peers typing now: until when `active` holds, and what they compose.
    typing: BoundedMap<String, (Instant, Option<String>)>,
}

/// A change to tell rules about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub peer: String,
    pub typing: bool,
    pub content_type: Option<String>,
}

impl Receiving {
    pub fn new(max_peers: usize) -> Receiving {
        Receiving {
            typing: BoundedMap::new(max_peers),
        }
    }

    /// An is-composing from `peer`: the changes (none for a refresh of
    /// `active`; a peer pushed out of a full table stops typing too).
    pub fn indication(&mut self, peer: &str, indication: &Indication, now: Instant) -> Vec<Change> {
        match indication.state {
            State::Active => {
                let was_typing = self.typing.contains_key(peer);
                let until = now + Duration::from_secs(indication.lapses_after().into());
                let evicted = self
                    .typing
                    .insert(peer.to_owned(), (until, indication.content_type.clone()));
                let mut changes: Vec<Change> = evicted
                    .map(|(other, _)| Change {
                        peer: other,
                        typing: false,
                        content_type: None,
                    })
                    .into_iter()
                    .collect();
                if !was_typing {
                    changes.push(Change {
                        peer: peer.to_owned(),
                        typing: true,
                        content_type: indication.content_type.clone(),
                    });
                }
                changes
            }
            State::Idle => self.stopped(peer).into_iter().collect(),
        }
    }

    /// A message from `peer`: they are done typing (RFC 3994 §4).
    pub fn message(&mut self, peer: &str) -> Option<Change> {
        self.stopped(peer)
    }

    /// Peers whose `active` lapsed by `now`.
    pub fn lapsed(&mut self, now: Instant) -> Vec<Change> {
        let gone: Vec<String> = self
            .typing
            .iter()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(peer, _)| peer.clone())
            .collect();
        gone.iter().filter_map(|peer| self.stopped(peer)).collect()
    }

    fn stopped(&mut self, peer: &str) -> Option<Change> {
        self.typing.remove(peer).map(|_| Change {
            peer: peer.to_owned(),
            typing: false,
            content_type: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(refresh: Option<u32>) -> Indication {
        Indication {
            state: State::Active,
            refresh,
            content_type: Some("text/plain".into()),
        }
    }

    #[test]
    fn typing_starts_once_and_ends_by_idle_message_or_lapse() {
        let mut r = Receiving::new(8);
        let t0 = Instant::now();
        let start = r.indication("sip:bob@x", &active(Some(60)), t0);
        assert_eq!(start.len(), 1);
        assert!(start[0].typing);
        // A refresh is no change, and moves the lapse.
        assert!(r
            .indication("sip:bob@x", &active(Some(60)), t0 + Duration::from_secs(50))
            .is_empty());
        assert!(r.lapsed(t0 + Duration::from_secs(100)).is_empty());
        let lapsed = r.lapsed(t0 + Duration::from_secs(110));
        assert_eq!(lapsed.len(), 1);
        assert!(!lapsed[0].typing);
        assert!(r.lapsed(t0 + Duration::from_secs(500)).is_empty(), "once");

        r.indication("sip:bob@x", &active(None), t0);
        assert!(
            r.lapsed(t0 + Duration::from_secs(119)).is_empty(),
            "120 s default"
        );
        assert_eq!(r.message("sip:bob@x").map(|c| c.typing), Some(false));
        assert_eq!(r.message("sip:bob@x"), None, "no change: not typing");

        r.indication("sip:bob@x", &active(None), t0);
        let idle = Indication {
            state: State::Idle,
            refresh: None,
            content_type: None,
        };
        assert_eq!(r.indication("sip:bob@x", &idle, t0).len(), 1);
        assert!(r.indication("sip:bob@x", &idle, t0).is_empty());
    }

    #[test]
    fn a_full_table_forgets_the_oldest_typist_and_says_so() {
        let mut r = Receiving::new(2);
        let t0 = Instant::now();
        r.indication("sip:a@x", &active(None), t0);
        r.indication("sip:b@x", &active(None), t0);
        let changes = r.indication("sip:c@x", &active(None), t0);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            (changes[0].peer.as_str(), changes[0].typing),
            ("sip:a@x", false)
        );
        assert_eq!(
            (changes[1].peer.as_str(), changes[1].typing),
            ("sip:c@x", true)
        );
    }
}
