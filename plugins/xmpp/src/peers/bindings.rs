//! Which roster contact a SIP address is, by what the contacts publish
//! themselves: their XEP-0152 reachability addresses and the SIP URIs of
//! their vCard. An index from the address's comparable form ([`SipKey`])
//! to its publishers, so an incoming call is looked up in one hash probe
//! however long the roster, and kept as reach and vCards arrive.
//!
//! An address is *a* contact's only when exactly one contact publishes it:
//! two contacts naming one address (a shared line, or one of them lying)
//! bind it to nobody. Whether a caller may be taken to be that contact is
//! not decided here: see `identify`.

use std::collections::HashMap;

use xmpp_parsers::jid::BareJid;

use super::sip_key::SipKey;

/// Addresses kept per contact and source: a person has a few phones; more
/// is junk (XEP-0152's own cap, `reach::MAX_ADDRESSES`).
pub const MAX_PER_SOURCE: usize = 16;

/// Where a contact published an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Reach,
    Vcard,
}

/// Who publishes an address.
#[derive(Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    Nobody,
    One(&'a BareJid),
    /// This many contacts: bound to none of them.
    Several(usize),
}

#[derive(Debug, Default)]
pub struct Bindings {
    /// Each address's publishers, one entry per contact and source.
    by_key: HashMap<SipKey, Vec<(BareJid, Source)>>,
    /// What each contact published from each source, to take it back.
    published: HashMap<(BareJid, Source), Vec<SipKey>>,
}

impl Bindings {
    /// `jid` now publishes `uris` by `source` (none: nothing any more);
    /// what is no SIP address is left out, and beyond
    /// [`MAX_PER_SOURCE`] too.
    pub fn publish<'u>(
        &mut self,
        jid: &BareJid,
        source: Source,
        uris: impl IntoIterator<Item = &'u str>,
    ) {
        self.withdraw(jid, source);
        let mut keys: Vec<SipKey> = Vec::new();
        for key in uris.into_iter().filter_map(SipKey::parse) {
            if keys.len() == MAX_PER_SOURCE {
                break;
            }
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return;
        }
        for key in &keys {
            self.by_key
                .entry(key.clone())
                .or_default()
                .push((jid.clone(), source));
        }
        self.published.insert((jid.clone(), source), keys);
    }

    /// Everything `jid` published (it left the roster).
    pub fn forget(&mut self, jid: &BareJid) {
        self.withdraw(jid, Source::Reach);
        self.withdraw(jid, Source::Vcard);
    }

    fn withdraw(&mut self, jid: &BareJid, source: Source) {
        let Some(keys) = self.published.remove(&(jid.clone(), source)) else {
            return;
        };
        for key in keys {
            if let Some(publishers) = self.by_key.get_mut(&key) {
                publishers.retain(|(j, s)| !(j == jid && *s == source));
                if publishers.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    /// Who publishes `uri` (compared as RFC 3261 §19.1.4 says).
    pub fn owner(&self, uri: &str) -> Owner<'_> {
        let Some(publishers) = SipKey::parse(uri).and_then(|k| self.by_key.get(&k)) else {
            return Owner::Nobody;
        };
        let first = &publishers[0].0;
        let others = publishers.iter().filter(|(j, _)| j != first).count();
        match others {
            0 => Owner::One(first),
            // Each contact has at most one entry per source: two sources.
            _ => {
                let mut jids: Vec<&BareJid> = publishers.iter().map(|(j, _)| j).collect();
                jids.sort();
                jids.dedup();
                Owner::Several(jids.len())
            }
        }
    }

    /// The contacts with something published.
    pub fn publishers(&self) -> Vec<BareJid> {
        let mut jids: Vec<BareJid> = self.published.keys().map(|(j, _)| j.clone()).collect();
        jids.sort();
        jids.dedup();
        jids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid(text: &str) -> BareJid {
        BareJid::from_str(text).unwrap()
    }

    #[test]
    fn an_address_is_the_one_contact_who_publishes_it_in_any_spelling() {
        let mut b = Bindings::default();
        let bob = jid("bob@example.org");
        b.publish(
            &bob,
            Source::Reach,
            ["sip:bob@Example.ORG;transport=tcp", "tel:+1555"],
        );
        assert_eq!(b.owner("sip:bob@example.org"), Owner::One(&bob));
        assert_eq!(b.owner("SIP:%62ob@example.org"), Owner::One(&bob));
        assert_eq!(b.owner("sip:bob@example.org:5060"), Owner::Nobody);
        assert_eq!(b.owner("sip:Bob@example.org"), Owner::Nobody);
        assert_eq!(b.owner("sip:bob@example.org.evil"), Owner::Nobody);
        // The same address in the vCard too is still one contact.
        b.publish(&bob, Source::Vcard, ["sip:bob@example.org"]);
        assert_eq!(b.owner("sip:bob@example.org"), Owner::One(&bob));
        assert_eq!(b.by_key.len(), 1);
    }

    #[test]
    fn two_publishers_bind_it_to_nobody_until_one_stops() {
        let mut b = Bindings::default();
        let (bob, mallory) = (jid("bob@example.org"), jid("mallory@example.org"));
        b.publish(&bob, Source::Reach, ["sip:bob@example.org"]);
        b.publish(&mallory, Source::Vcard, ["sip:bob@example.org"]);
        assert_eq!(b.owner("sip:bob@example.org"), Owner::Several(2));
        b.forget(&mallory);
        assert_eq!(b.owner("sip:bob@example.org"), Owner::One(&bob));
        // A new publication replaces the old one of that source.
        b.publish(&bob, Source::Reach, ["sip:bob@other.example"]);
        assert_eq!(b.owner("sip:bob@example.org"), Owner::Nobody);
        assert_eq!(b.owner("sip:bob@other.example"), Owner::One(&bob));
        b.publish(&bob, Source::Reach, []);
        assert!(b.by_key.is_empty());
        assert!(b.published.is_empty());
    }

    #[test]
    fn a_contact_publishing_thousands_keeps_a_few() {
        let mut b = Bindings::default();
        let uris: Vec<String> = (0..5000).map(|i| format!("sip:u{i}@example.org")).collect();
        b.publish(
            &jid("bob@example.org"),
            Source::Reach,
            uris.iter().map(String::as_str),
        );
        assert_eq!(b.by_key.len(), MAX_PER_SOURCE);
    }
}
