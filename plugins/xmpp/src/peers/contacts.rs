//! Who the user's contacts are, and what the sidecar keeps of them.
//!
//! Presence and PEP stanzas can come from anyone: directed presence needs
//! no subscription, and a hostile server can invent JIDs and resources
//! without end. So per-JID state is kept for the user's roster contacts
//! only: the roster (RFC 6121 §2) is fetched on every connection and kept
//! current by the server's roster pushes. A stranger's presence is still
//! published as an event, it is just not remembered. Even a contact's
//! server could invent resources, so the resources kept are capped too:
//! beyond the cap a new one is published, not kept.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use tandem_sdk::events::xmpp::ContactPresence;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::roster::{Roster, Subscription};

use super::bindings::{Bindings, Owner, Source};
use crate::xep::reach::Address;

/// Contact resources kept at most: a large roster has a few hundred
/// contacts with a client or two each.
pub const MAX_RESOURCES: usize = 1024;

pub struct Contacts {
    /// The user's own account, which counts as a contact (its other
    /// clients publish by PEP too) without being on the roster.
    account: BareJid,
    /// The roster's bare JIDs and their names there; none known until
    /// the first roster arrives (it is asked for before the sidecar's
    /// presence, so it comes before the contacts' presence). Kept across
    /// reconnections until the new one arrives.
    roster: Option<HashMap<BareJid, Option<String>>>,
    /// The last presence event of each online contact resource, by full
    /// JID: counted by `xmpp.status`, and sent again when the client's
    /// features become known.
    online: BTreeMap<String, ContactPresence>,
    /// Contacts' reachability addresses (XEP-0152), as last published.
    reach: HashMap<BareJid, Vec<Address>>,
    /// The SIP addresses roster contacts publish (reach, vCard), indexed
    /// to tell who a SIP peer is. The user's own account is not in it: it
    /// is nobody's caller.
    bindings: Bindings,
}

/// Whether an item is on the roster: anything but a removal.
fn listed(item: &xmpp_parsers::roster::Item) -> bool {
    item.subscription != Subscription::Remove
}

impl Contacts {
    pub fn new(account: BareJid) -> Contacts {
        Contacts {
            account,
            roster: None,
            online: BTreeMap::new(),
            reach: HashMap::new(),
            bindings: Bindings::default(),
        }
    }

    /// The user's own account, or on the roster.
    pub fn is_contact(&self, jid: &BareJid) -> bool {
        *jid == self.account || self.roster.as_ref().is_some_and(|r| r.contains_key(jid))
    }

    /// Whether state may be kept for this resource: a contact's, already
    /// kept or with room left.
    pub fn admits(&self, resource: &Jid) -> bool {
        self.is_contact(&resource.to_bare())
            && (self.online.len() < MAX_RESOURCES
                || self.online.contains_key(&resource.to_string()))
    }

    /// Keeps a presence event of an admitted resource (`admits`), or
    /// forgets the resource when it went offline.
    pub fn presence(&mut self, event: &ContactPresence) {
        if event.presence.is_none() {
            self.online.remove(&event.jid);
            return;
        }
        let admitted = Jid::from_str(&event.jid).is_ok_and(|jid| self.admits(&jid));
        if admitted {
            self.online.insert(event.jid.clone(), event.clone());
        }
    }

    /// The kept event of an online resource (full JID).
    pub fn event_mut(&mut self, resource: &str) -> Option<&mut ContactPresence> {
        self.online.get_mut(resource)
    }

    /// Contact resources online.
    pub fn online(&self) -> usize {
        self.online.len()
    }

    /// A new session: who is online is not known any more; returns the
    /// resources forgotten. The roster and the addresses stay (the next
    /// roster replaces the first).
    pub fn offline(&mut self) -> Vec<String> {
        std::mem::take(&mut self.online).into_keys().collect()
    }

    /// The addresses a contact published (none for a stranger).
    pub fn reach(&self, jid: &BareJid) -> Vec<Address> {
        self.reach.get(jid).cloned().unwrap_or_default()
    }

    /// A contact published addresses (none: stopped). Whether they
    /// changed; a stranger's are not kept, and never change.
    pub fn set_reach(&mut self, jid: &BareJid, addresses: Vec<Address>) -> bool {
        if !self.is_contact(jid) || self.reach.get(jid) == Some(&addresses) {
            return false;
        }
        if *jid != self.account {
            let uris = addresses.iter().map(|a| a.uri.as_str());
            self.bindings.publish(jid, Source::Reach, uris);
        }
        if addresses.is_empty() {
            self.reach.remove(jid).is_some()
        } else {
            self.reach.insert(jid.clone(), addresses);
            true
        }
    }

    /// The numbers and addresses a contact's vCard lists, as last fetched
    /// (a stranger's are not kept).
    pub fn set_vcard(&mut self, jid: &BareJid, entries: &[String]) {
        if self.is_contact(jid) && *jid != self.account {
            let uris = entries.iter().map(String::as_str);
            self.bindings.publish(jid, Source::Vcard, uris);
        }
    }

    /// The one roster contact that publishes `uri`, and their roster name.
    pub fn owner_of(&self, uri: &str) -> Option<(&BareJid, Option<&str>)> {
        match self.bindings.owner(uri) {
            Owner::One(jid) => Some((jid, self.name_of(jid))),
            Owner::Nobody | Owner::Several(_) => None,
        }
    }

    /// The roster's contacts (not the account), in a stable order.
    pub fn roster_jids(&self) -> Vec<BareJid> {
        let mut jids: Vec<BareJid> = self
            .roster
            .iter()
            .flat_map(|r| r.keys())
            .filter(|jid| **jid != self.account)
            .cloned()
            .collect();
        jids.sort();
        jids
    }

    /// A contact's name on the roster, when it has one.
    pub fn name_of(&self, jid: &BareJid) -> Option<&str> {
        self.roster.as_ref()?.get(jid)?.as_deref()
    }

    /// The whole roster (the answer to the roster query). Returns the
    /// resources forgotten because their JID is not on it.
    pub fn roster_loaded(&mut self, roster: Roster) -> Vec<String> {
        let jids = roster
            .items
            .into_iter()
            .filter(listed)
            .map(|item| (item.jid, item.name.filter(|n| !n.trim().is_empty())))
            .collect();
        self.roster = Some(jids);
        self.forget_strangers()
    }

    /// A roster push (RFC 6121 §2.1.6): items added, changed or removed.
    /// Returns the resources forgotten with a removed contact.
    pub fn roster_pushed(&mut self, roster: Roster) -> Vec<String> {
        let Some(jids) = self.roster.as_mut() else {
            // A push before the roster itself: the roster, when it
            // comes, has the change already.
            return Vec::new();
        };
        for item in roster.items {
            if listed(&item) {
                let name = item.name.filter(|n| !n.trim().is_empty());
                jids.insert(item.jid, name);
            } else {
                jids.remove(&item.jid);
            }
        }
        self.forget_strangers()
    }

    fn forget_strangers(&mut self) -> Vec<String> {
        let reach = std::mem::take(&mut self.reach);
        self.reach = reach
            .into_iter()
            .filter(|(jid, _)| self.is_contact(jid))
            .collect();
        for jid in self.bindings.publishers() {
            if !self.is_contact(&jid) {
                self.bindings.forget(&jid);
            }
        }
        let gone: Vec<String> = self
            .online
            .keys()
            .filter(|r| !Jid::from_str(r).is_ok_and(|j| self.is_contact(&j.to_bare())))
            .cloned()
            .collect();
        for resource in &gone {
            self.online.remove(resource);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sdk::commands::xmpp::Presence;
    use xmpp_parsers::minidom::Element;

    fn roster(xml: &str) -> Roster {
        let element: Element = format!("<query xmlns='jabber:iq:roster'>{xml}</query>")
            .parse()
            .unwrap();
        Roster::try_from(element).unwrap()
    }

    fn available(jid: &str) -> ContactPresence {
        ContactPresence {
            jid: jid.to_owned(),
            presence: Some(Presence::default()),
            ..ContactPresence::default()
        }
    }

    fn bare(jid: &str) -> BareJid {
        BareJid::from_str(jid).unwrap()
    }

    fn sip(uri: &str) -> Vec<Address> {
        vec![Address {
            uri: uri.to_owned(),
            desc: None,
        }]
    }

    #[test]
    fn a_stranger_inventing_resources_leaves_nothing_behind() {
        let mut contacts = Contacts::new(bare("alice@example.org"));
        contacts.roster_loaded(roster("<item jid='bob@example.org' subscription='both'/>"));
        contacts.presence(&available("bob@example.org/phone"));
        for i in 0..5000 {
            let event = available(&format!("mallory@evil.example/r{i}"));
            assert!(!contacts.admits(&Jid::from_str(&event.jid).unwrap()));
            contacts.presence(&event);
            let other = available(&format!("m{i}@evil.example/r"));
            contacts.presence(&other);
            assert!(!contacts.set_reach(&bare(&format!("m{i}@evil.example")), sip("sip:x@y")));
        }
        assert_eq!(contacts.online(), 1);
        assert!(contacts.reach.is_empty());
        assert!(contacts.event_mut("bob@example.org/phone").is_some());
    }

    #[test]
    fn nothing_is_kept_before_the_roster_and_a_contacts_resources_are_capped() {
        let mut contacts = Contacts::new(bare("alice@example.org"));
        contacts.presence(&available("bob@example.org/phone"));
        assert_eq!(contacts.online(), 0, "nobody is a contact yet");
        contacts.roster_loaded(roster("<item jid='bob@example.org'/>"));
        for i in 0..MAX_RESOURCES + 100 {
            contacts.presence(&available(&format!("bob@example.org/r{i}")));
        }
        assert_eq!(contacts.online(), MAX_RESOURCES);
        // One already kept still changes; going offline frees a place.
        assert!(contacts.admits(&Jid::from_str("bob@example.org/r0").unwrap()));
        contacts.presence(&ContactPresence {
            presence: None,
            ..available("bob@example.org/r0")
        });
        assert_eq!(contacts.online(), MAX_RESOURCES - 1);
    }

    #[test]
    fn roster_pushes_add_and_remove_contacts_and_a_removal_forgets_them() {
        let mut contacts = Contacts::new(bare("alice@example.org"));
        let removed = contacts.roster_loaded(roster(
            "<item jid='bob@example.org' subscription='both'/>\
             <item jid='carol@example.org' subscription='to'/>",
        ));
        assert!(removed.is_empty());
        contacts.presence(&available("carol@example.org/laptop"));
        assert!(contacts.set_reach(&bare("carol@example.org"), sip("sip:carol@example.org")));
        assert!(
            !contacts.set_reach(&bare("carol@example.org"), sip("sip:carol@example.org")),
            "no change"
        );
        assert!(!contacts.is_contact(&bare("dave@example.org")));
        contacts.roster_pushed(roster("<item jid='dave@example.org' subscription='none'/>"));
        assert!(contacts.is_contact(&bare("dave@example.org")));
        let gone = contacts.roster_pushed(roster(
            "<item jid='carol@example.org' subscription='remove'/>",
        ));
        assert_eq!(gone, ["carol@example.org/laptop"]);
        assert!(!contacts.is_contact(&bare("carol@example.org")));
        assert!(contacts.reach(&bare("carol@example.org")).is_empty());
        // A new roster replaces the old one wholesale.
        contacts.presence(&available("dave@example.org/x"));
        let gone = contacts.roster_loaded(roster("<item jid='bob@example.org'/>"));
        assert_eq!(gone, ["dave@example.org/x"]);
        assert!(!contacts.is_contact(&bare("dave@example.org")));
        // The user's own account always counts, on the roster or not.
        assert!(contacts.set_reach(&bare("alice@example.org"), sip("sip:alice@example.org")));
        assert!(contacts.roster_loaded(roster("")).is_empty());
        assert_eq!(contacts.reach(&bare("alice@example.org")).len(), 1);
    }
}
