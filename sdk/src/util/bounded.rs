//! A map that never holds more than a fixed number of entries: inserting
//! into a full one evicts the entry inserted (or refreshed) longest ago.
//!
//! For state keyed by what other people choose (their JIDs, session ids):
//! anyone on the network can invent JIDs without end, so a map they can
//! add to must forget rather than grow.
//!
//! Was `plugins/xmpp/src/bounded.rs`'s `Bounded`; same API, plus `len`,
//! `is_empty`, `get_mut` and `capacity`.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A map of at most `capacity` entries, forgetting the oldest (see the module doc).
pub struct BoundedMap<K, V> {
    capacity: usize,
    /// Each entry with the sequence number of its last insertion.
    entries: HashMap<K, (u64, V)>,
    /// The keys by sequence number: the first is the oldest.
    order: BTreeMap<u64, K>,
    next: u64,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    /// A map of `capacity` entries at most (at least one).
    pub fn new(capacity: usize) -> BoundedMap<K, V> {
        BoundedMap {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
        }
    }

    /// Inserts or replaces `key`, which becomes the newest; returns the
    /// entry evicted to make room, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        if let Some((seq, _)) = self.entries.remove(&key) {
            self.order.remove(&seq);
        }
        let evicted = if self.entries.len() >= self.capacity {
            self.order.pop_first().and_then(|(_, oldest)| {
                let (_, value) = self.entries.remove(&oldest)?;
                Some((oldest, value))
            })
        } else {
            None
        };
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, key.clone());
        self.entries.insert(key, (seq, value));
        evicted
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries.get(key).map(|(_, v)| v)
    }

    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.entries.contains_key(key)
    }

    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let (seq, value) = self.entries.remove(key)?;
        self.order.remove(&seq);
        Some(value)
    }

    /// The value of `key`, to change in place (does not make it newer).
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.entries.get_mut(key).map(|(_, v)| v)
    }

    /// The entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, (_, value))| (key, value))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most entries it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_goes_when_full_and_a_refresh_makes_an_entry_new() {
        let mut map = BoundedMap::new(3);
        assert_eq!(map.insert("a", 1), None);
        assert_eq!(map.insert("b", 2), None);
        assert_eq!(map.insert("c", 3), None);
        // "a" again: replaced, and now the newest; nothing evicted.
        assert_eq!(map.insert("a", 10), None);
        assert_eq!(map.insert("d", 4), Some(("b", 2)));
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&"a"), Some(&10));
        assert!(!map.contains_key(&"b"));
        assert_eq!(map.remove(&"c"), Some(3));
        assert_eq!(map.insert("e", 5), None, "room after a removal");
        assert_eq!(map.insert("f", 6), Some(("a", 10)));
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_the_capacity() {
        let mut map = BoundedMap::new(256);
        for i in 0..100_000u32 {
            map.insert(i, ());
        }
        assert_eq!(map.len(), 256);
        assert_eq!(map.order.len(), 256);
        assert!(map.contains_key(&99_999) && !map.contains_key(&99_743));
    }
}
