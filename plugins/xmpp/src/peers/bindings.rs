//! Which roster contact a SIP address is, by what the contacts publish
//! themselves: their XEP-0152 reachability addresses and the SIP URIs and
//! telephone numbers of their vCard. An index from the address's
//! comparable forms ([`SipKey`], and [`PhoneKey`] for a `tel:` URI or a
//! SIP URI whose user is a global number) to its publishers, so an
//! incoming call is looked up in a hash probe or two however long the
//! roster, and kept as reach and vCards arrive.
//!
//! An address is *a* contact's only when exactly one contact publishes it:
//! two contacts naming one address (a shared line, or one of them lying)
//! bind it to nobody. A caller's SIP URI and its number are one address:
//! `sip:+15551234@provider;user=phone` is bound only when one contact in
//! all publishes that URI or the number +15551234. Whether a caller may be taken to be that contact is
//! not decided here: see `identify`.

use std::collections::HashMap;

use xmpp_parsers::jid::BareJid;

use super::phone_key::PhoneKey;
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

/// One comparable form of an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Sip(SipKey),
    Phone(PhoneKey),
}

/// The forms `uri` is compared in: a SIP URI's own, and its number when
/// its user is a global number; a `tel:` URI's (or a bare global
/// number's) number. None for anything else.
fn keys_of(uri: &str) -> impl Iterator<Item = Key> {
    let sip = SipKey::parse(uri);
    let phone = if sip.is_some() {
        PhoneKey::of_sip(uri)
    } else {
        PhoneKey::of_tel(uri)
    };
    sip.map(Key::Sip).into_iter().chain(phone.map(Key::Phone))
}

#[derive(Debug, Default)]
pub struct Bindings {
    /// Each address's publishers, one entry per contact and source.
    by_key: HashMap<Key, Vec<(BareJid, Source)>>,
    /// What each contact published from each source, to take it back.
    published: HashMap<(BareJid, Source), Vec<Key>>,
}

impl Bindings {
    /// `jid` now publishes `uris` by `source` (none: nothing any more);
    /// what is neither a SIP address nor a global telephone number is left
    /// out, and addresses beyond [`MAX_PER_SOURCE`] too.
    pub fn publish<'u>(
        &mut self,
        jid: &BareJid,
        source: Source,
        uris: impl IntoIterator<Item = &'u str>,
    ) {
        self.withdraw(jid, source);
        let mut keys: Vec<Key> = Vec::new();
        let mut addresses = 0;
        for uri in uris {
            let mut forms = keys_of(uri).peekable();
            if forms.peek().is_none() {
                continue;
            }
            if addresses == MAX_PER_SOURCE {
                break;
            }
            addresses += 1;
            for key in forms {
                if !keys.contains(&key) {
                    keys.push(key);
                }
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

    /// Who publishes `uri` (compared as RFC 3261 §19.1.4 says, and its
    /// number as RFC 3966 says), in any of its forms.
    pub fn owner(&self, uri: &str) -> Owner<'_> {
        // Nothing allocated unless several contacts publish it.
        let mut one: Option<&BareJid> = None;
        let mut several: Vec<&BareJid> = Vec::new();
        for (jid, _) in keys_of(uri)
            .filter_map(|key| self.by_key.get(&key))
            .flatten()
        {
            match one {
                None => one = Some(jid),
                Some(first) if first == jid => {}
                Some(first) => {
                    if several.is_empty() {
                        several.push(first);
                    }
                    several.push(jid);
                }
            }
        }
        if several.is_empty() {
            return one.map_or(Owner::Nobody, Owner::One);
        }
        several.sort();
        several.dedup();
        Owner::Several(several.len())
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
        assert_eq!(b.by_key.len(), 2, "the SIP address and the number");
        // The number, from a provider's caller or a tel: URI.
        assert_eq!(b.owner("tel:+1-555"), Owner::One(&bob));
        assert_eq!(
            b.owner("sip:+1555@provider.example;user=phone"),
            Owner::One(&bob)
        );
        assert_eq!(
            b.owner("sip:+15550@provider.example;user=phone"),
            Owner::Nobody
        );
        assert_eq!(
            b.owner("sip:1555@provider.example;user=phone"),
            Owner::Nobody
        );
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
    fn a_number_two_contacts_publish_in_any_form_binds_nobody() {
        let mut b = Bindings::default();
        let (bob, carol) = (jid("bob@example.org"), jid("carol@example.org"));
        b.publish(&bob, Source::Vcard, ["tel:+1-555-1234"]);
        b.publish(
            &carol,
            Source::Reach,
            ["sip:+15551234@pbx.example;user=phone"],
        );
        assert_eq!(b.owner("sip:+15551234@provider.example"), Owner::Several(2));
        // Even Carol's own SIP address: its number is Bob's too. Once
        // Carol stops, the number is Bob's alone.
        assert_eq!(
            b.owner("sip:+15551234@pbx.example;user=phone"),
            Owner::Several(2),
            "the same caller is also Bob's number"
        );
        b.forget(&carol);
        assert_eq!(b.owner("sip:+15551234@provider.example"), Owner::One(&bob));
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
