//! The offers waiting for an answer and the transfers under way: bounded
//! in number, per peer, and in time, so a peer cannot grow it without end
//! by sending offers nobody answers.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_sdk::commands::file_transfer::{Direction, Transfer, TransferState};
use thiserror::Error;

use crate::offer::Offer;

/// One offer, with what the table knows of it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub peer: String,
    /// Sanitised.
    pub name: String,
    pub offer: Offer,
    pub state: TransferState,
    pub direction: Direction,
    expires: Instant,
    /// Bytes received so far, updated by the download.
    pub received: Arc<AtomicU64>,
    /// Stops the transfer's task (`file_transfer.cancel`), once it runs.
    pub abort: Option<tokio::task::AbortHandle>,
    /// Asks a direct (MSRP) transfer to stop the way the protocol says (a
    /// `#` chunk or a 413, then the session ended), not by dropping the
    /// connection: `file_transfer.cancel` uses it instead of `abort`.
    pub stop: Option<Arc<tokio::sync::watch::Sender<bool>>>,
    /// When the download began (`answer` with `downloading`): the rate.
    started: Option<Instant>,
}

impl Entry {
    pub fn to_transfer(&self) -> Transfer {
        Transfer {
            id: self.id.clone(),
            peer: self.peer.clone(),
            name: self.name.clone(),
            size: self.offer.size,
            media_type: self.offer.media_type.clone(),
            state: self.state.clone(),
            received: self.received.load(Ordering::Relaxed),
            direction: self.direction.clone(),
            rate: self.rate(Instant::now()),
        }
    }

    /// Bytes per second received since the download began; none before
    /// it began or in its first 100 ms (too short to say).
    fn rate(&self, now: Instant) -> Option<u64> {
        let elapsed = now.duration_since(self.started?).as_secs_f64();
        (elapsed >= 0.1).then(|| (self.received.load(Ordering::Relaxed) as f64 / elapsed) as u64)
    }
}

/// Why an offer was not taken in.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refused {
    #[error("{peer} has {limit} offers waiting already")]
    PeerLimit { peer: String, limit: usize },
    #[error("{limit} offers are waiting already")]
    Full { limit: usize },
}

/// Why an answer to an offer cannot be carried out.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NotWaiting {
    #[error("there is no file offer `{0}` (it may have expired)")]
    Unknown(String),
    #[error("the file offer `{0}` was answered already")]
    Answered(String),
}

/// The table; times are passed in, so it is tested without sleeping.
pub struct Offers {
    entries: HashMap<String, Entry>,
    max: usize,
    per_peer: usize,
    ttl: Duration,
    ids: std::collections::hash_map::RandomState,
    counter: u64,
}

impl Offers {
    pub fn new(max: usize, per_peer: usize, ttl: Duration) -> Offers {
        Offers {
            entries: HashMap::new(),
            max,
            per_peer,
            ttl,
            ids: Default::default(),
            counter: 0,
        }
    }

    /// Takes in a new offer from `peer`; answers its entry.
    pub fn add(
        &mut self,
        peer: &str,
        name: String,
        offer: Offer,
        now: Instant,
    ) -> Result<Entry, Refused> {
        // Transfers under way count too: they hold a connection and disk.
        if self
            .entries
            .values()
            .filter(|e| e.peer == peer && e.direction == Direction::In)
            .count()
            >= self.per_peer
        {
            return Err(Refused::PeerLimit {
                peer: peer.to_owned(),
                limit: self.per_peer,
            });
        }
        if self.entries.len() >= self.max {
            return Err(Refused::Full { limit: self.max });
        }
        let id = self.new_id();
        let entry = Entry {
            id: id.clone(),
            peer: peer.to_owned(),
            name,
            offer,
            state: TransferState::Offered,
            direction: Direction::In,
            expires: now + self.ttl,
            received: Arc::new(AtomicU64::new(0)),
            abort: None,
            stop: None,
            started: None,
        };
        self.entries.insert(id, entry.clone());
        Ok(entry)
    }

    /// Lists the user's file being offered to `peer` (not bounded: the
    /// user sends it, and it is gone once the peer answers).
    pub fn add_outgoing(&mut self, peer: &str, offer: Offer) -> Entry {
        let id = self.new_id();
        let entry = Entry {
            id: id.clone(),
            peer: peer.to_owned(),
            name: offer.name.clone().unwrap_or_default(),
            offer,
            state: TransferState::Sending,
            direction: Direction::Out,
            expires: Instant::now() + self.ttl,
            received: Arc::new(AtomicU64::new(0)),
            abort: None,
            stop: None,
            started: None,
        };
        self.entries.insert(id, entry.clone());
        entry
    }

    /// Short ids a person can type (`accept k3x9a`), unpredictable enough
    /// that an old id is not confused with a new offer after a restart.
    pub fn new_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let mut h = self.ids.build_hasher();
            h.write_u64(self.counter);
            let mut n = h.finish() % 36u64.pow(5);
            let mut id = String::with_capacity(5);
            for _ in 0..5 {
                id.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
                n /= 36;
            }
            if !self.entries.contains_key(&id) {
                return id;
            }
        }
    }

    /// Moves offer `id` from `offered` to `state` (accepting or rejecting).
    pub fn answer(&mut self, id: &str, state: TransferState) -> Result<Entry, NotWaiting> {
        let entry = self
            .entries
            .get_mut(id)
            .ok_or_else(|| NotWaiting::Unknown(id.to_owned()))?;
        if entry.state != TransferState::Offered {
            return Err(NotWaiting::Answered(id.to_owned()));
        }
        if state == TransferState::Downloading {
            entry.started = Some(Instant::now());
        }
        entry.state = state;
        Ok(entry.clone())
    }

    /// A transfer moved on (`uploading`).
    pub fn set_state(&mut self, id: &str, state: TransferState) {
        if let Some(e) = self.entries.get_mut(id) {
            e.state = state;
        }
    }

    /// The task running transfer `id`, so that it can be stopped; none
    /// when it has ended already.
    pub fn set_abort(&mut self, id: &str, abort: tokio::task::AbortHandle) {
        if let Some(e) = self.entries.get_mut(id) {
            e.abort = Some(abort);
        }
    }

    /// How a direct transfer is asked to stop (see [`Entry::stop`]).
    pub fn set_stop(&mut self, id: &str, stop: Arc<tokio::sync::watch::Sender<bool>>) {
        if let Some(e) = self.entries.get_mut(id) {
            e.stop = Some(stop);
        }
    }

    /// The offer made in SIP session `session`, if one is listed.
    pub fn of_session(&self, session: &str) -> Option<Entry> {
        self.entries
            .values()
            .find(|e| {
                matches!(&e.offer.source, crate::offer::Source::Session(s) if s.session == session)
            })
            .cloned()
    }

    pub fn get(&self, id: &str) -> Option<Entry> {
        self.entries.get(id).cloned()
    }

    /// Forgets `id` (finished, failed or rejected).
    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        self.entries.remove(id)
    }

    /// Removes and answers the offers nobody answered in time (transfers
    /// under way are never expired).
    pub fn expired(&mut self, now: Instant) -> Vec<Entry> {
        let gone: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.state == TransferState::Offered && e.expires <= now)
            .map(|e| e.id.clone())
            .collect();
        gone.iter()
            .filter_map(|id| self.entries.remove(id))
            .collect()
    }

    /// All of them, oldest first.
    pub fn list(&self) -> Vec<Transfer> {
        let mut all: Vec<&Entry> = self.entries.values().collect();
        all.sort_by_key(|e| e.expires);
        all.into_iter().map(Entry::to_transfer).collect()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offer::Form;
    use crate::url::Url;

    fn offer() -> Offer {
        Offer {
            form: Form::Rcs,
            name: Some("a.jpg".into()),
            size: Some(10),
            media_type: None,
            source: crate::offer::Source::Link(Url::parse("http://x/a.jpg").unwrap()),
        }
    }

    #[test]
    fn bounded_per_peer_and_in_all() {
        let now = Instant::now();
        let mut t = Offers::new(3, 2, Duration::from_secs(60));
        t.add("sip:bob@x", "a".into(), offer(), now).unwrap();
        t.add("sip:bob@x", "b".into(), offer(), now).unwrap();
        assert!(matches!(
            t.add("sip:bob@x", "c".into(), offer(), now),
            Err(Refused::PeerLimit { limit: 2, .. })
        ));
        t.add("sip:carol@x", "d".into(), offer(), now).unwrap();
        assert_eq!(
            t.add("sip:dave@x", "e".into(), offer(), now).unwrap_err(),
            Refused::Full { limit: 3 }
        );
        assert_eq!(t.list().len(), 3);
    }

    #[test]
    fn answered_once_and_expired_when_unanswered() {
        let now = Instant::now();
        let mut t = Offers::new(10, 10, Duration::from_secs(60));
        let a = t.add("sip:bob@x", "a".into(), offer(), now).unwrap();
        let b = t.add("sip:bob@x", "b".into(), offer(), now).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 5);
        t.answer(&a.id, TransferState::Downloading).unwrap();
        assert_eq!(
            t.answer(&a.id, TransferState::Rejected).unwrap_err(),
            NotWaiting::Answered(a.id.clone())
        );
        assert_eq!(
            t.answer("nope", TransferState::Rejected).unwrap_err(),
            NotWaiting::Unknown("nope".into())
        );
        assert!(t.expired(now + Duration::from_secs(59)).is_empty());
        let gone = t.expired(now + Duration::from_secs(60));
        // The transfer under way stays; the unanswered offer goes.
        assert_eq!(
            gone.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            [b.id.as_str()]
        );
        assert_eq!(t.list().len(), 1);
        assert!(t.remove(&a.id).is_some());
        assert!(t.list().is_empty());
    }

    #[test]
    fn a_download_has_a_rate_once_it_began() {
        let mut offers = Offers::new(4, 4, Duration::from_secs(60));
        let url = crate::url::Url::parse("http://x/a.jpg").unwrap();
        let offer = Offer {
            form: crate::offer::Form::Rcs,
            name: None,
            size: Some(4000),
            media_type: None,
            source: crate::offer::Source::Link(url),
        };
        let entry = offers
            .add("sip:bob@x", "a.jpg".into(), offer, Instant::now())
            .unwrap();
        assert_eq!(entry.to_transfer().rate, None, "offered, not downloading");
        let entry = offers
            .answer(&entry.id, TransferState::Downloading)
            .unwrap();
        entry.received.store(3000, Ordering::Relaxed);
        let began = entry.started.unwrap();
        assert_eq!(entry.rate(began + Duration::from_millis(50)), None);
        assert_eq!(entry.rate(began + Duration::from_secs(2)), Some(1500));
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            offers.list()[0].rate.is_some_and(|r| r > 0),
            "listed with its rate"
        );
    }
}
