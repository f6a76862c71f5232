//! Who a SIP peer is, and whether that may be believed
//! (docs/decisions/0055-who-is-calling.md).
//!
//! Verified needs both: (a) exactly one roster contact publishes the
//! peer's SIP address itself, and (b) the request is vouched for, having
//! come through the user's SIP service, which authenticates its users. A
//! From header alone is whatever the sender wrote, and a `Call-Info`
//! address is whatever it claims; either is shown as a claim, never
//! acted on.

use std::str::FromStr;

use tandem_sdk::commands::xmpp::{PeerIdentity, WhoIs};
use xmpp_parsers::jid::BareJid;

use super::contacts::Contacts;

/// What `request` says of its peer, against the user's contacts.
pub fn identify(contacts: &Contacts, request: &WhoIs) -> PeerIdentity {
    let owner = contacts.owner_of(&request.uri);
    match owner {
        Some((jid, name)) if request.vouched => PeerIdentity {
            verified: true,
            jid: Some(jid.to_string()),
            name: name.map(str::to_owned),
            claimed: None,
        },
        _ => PeerIdentity {
            verified: false,
            jid: None,
            name: None,
            claimed: request
                .claimed
                .as_deref()
                .and_then(bare_jid)
                .or_else(|| owner.map(|(jid, _)| jid.to_string())),
        },
    }
}

/// The roster and the index on their own, for `tests/benches/who_is.rs`
/// (an incoming call looked up among thousands of contacts).
pub struct Index(Contacts);

impl Index {
    /// The user `account` with these roster contacts `(jid, name)`, each
    /// publishing `uri` as XEP-0152 reach.
    pub fn new<'a>(
        account: &str,
        contacts: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Index {
        use xmpp_parsers::roster::{Ask, Item, Roster, Subscription};
        let account = BareJid::from_str(account).expect("a bare JID");
        let mut items = Vec::new();
        let mut reach = Vec::new();
        for (jid, name, uri) in contacts {
            let jid = BareJid::from_str(jid).expect("a bare JID");
            items.push(Item {
                jid: jid.clone(),
                name: Some(name.to_owned()),
                subscription: Subscription::Both,
                ask: Ask::None,
                groups: Vec::new(),
                approved: None,
            });
            reach.push((jid, uri.to_owned()));
        }
        let mut index = Contacts::new(account);
        index.roster_loaded(Roster { ver: None, items });
        for (jid, uri) in reach {
            let address = crate::xep::reach::Address { uri, desc: None };
            index.set_reach(&jid, vec![address]);
        }
        Index(index)
    }

    pub fn who_is(&self, request: &WhoIs) -> PeerIdentity {
        identify(&self.0, request)
    }
}

/// A claimed address as a bare JID (`xmpp:` dropped), or None when it is
/// no JID: a claim is shown to the user, so junk is not.
fn bare_jid(claimed: &str) -> Option<String> {
    let text = claimed.trim();
    let text = text.strip_prefix("xmpp:").unwrap_or(text);
    let jid = BareJid::from_str(text).ok()?;
    (jid.node().is_some() && !text.contains('/')).then(|| jid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::reach::Address;
    use xmpp_parsers::minidom::Element;
    use xmpp_parsers::roster::Roster;

    fn contacts() -> Contacts {
        let mut contacts = Contacts::new(BareJid::from_str("alice@example.org").unwrap());
        let roster: Element = "<query xmlns='jabber:iq:roster'>\
             <item jid='bob@example.org' name='Bob' subscription='both'/>\
             <item jid='carol@example.org' subscription='both'/>\
             <item jid='mallory@example.org' subscription='both'/></query>"
            .parse()
            .unwrap();
        contacts.roster_loaded(Roster::try_from(roster).unwrap());
        let reach = |uri: &str| {
            vec![Address {
                uri: uri.to_owned(),
                desc: None,
            }]
        };
        let jid = |j: &str| BareJid::from_str(j).unwrap();
        contacts.set_reach(&jid("bob@example.org"), reach("sip:bob@example.org"));
        contacts.set_vcard(
            &jid("carol@example.org"),
            &[
                "sip:carol@example.org".to_owned(),
                "tel:+1-555-1234".to_owned(),
            ],
        );
        // Two contacts name one line: it is neither's.
        contacts.set_reach(&jid("carol@example.org"), reach("sip:desk@example.org"));
        contacts.set_reach(&jid("mallory@example.org"), reach("sip:desk@example.org"));
        contacts
    }

    fn ask(uri: &str, vouched: bool, claimed: Option<&str>) -> PeerIdentity {
        identify(
            &contacts(),
            &WhoIs {
                uri: uri.to_owned(),
                vouched,
                claimed: claimed.map(str::to_owned),
            },
        )
    }

    #[test]
    fn a_vouched_caller_at_a_contacts_own_address_is_that_contact() {
        let bob = ask("sip:bob@EXAMPLE.org", true, None);
        assert!(bob.verified);
        assert_eq!(bob.jid.as_deref(), Some("bob@example.org"));
        assert_eq!(bob.name.as_deref(), Some("Bob"));
        // From the vCard, without a roster name; a Call-Info claiming
        // someone else changes nothing.
        let carol = ask("sip:carol@example.org", true, Some("xmpp:bob@example.org"));
        assert!(carol.verified);
        assert_eq!(carol.jid.as_deref(), Some("carol@example.org"));
        assert_eq!((carol.name, carol.claimed), (None, None));
        // Carol's vCard number, as her provider writes its callers.
        for uri in [
            "sip:+15551234@provider.example;user=phone",
            "sip:+1-555-1234@provider.example",
        ] {
            let by_number = ask(uri, true, None);
            assert!(by_number.verified, "{uri}");
            assert_eq!(by_number.jid.as_deref(), Some("carol@example.org"));
        }
    }

    #[test]
    fn a_number_is_compared_whole_and_only_vouched() {
        for uri in [
            "sip:+155512345@provider.example;user=phone",
            "sip:+4915551234@provider.example;user=phone",
            "sip:5551234@provider.example;user=phone",
        ] {
            let who = ask(uri, true, None);
            assert!(!who.verified && who.jid.is_none(), "{uri}");
        }
        let forged = ask("sip:+15551234@evil.example;user=phone", false, None);
        assert!(!forged.verified && forged.jid.is_none());
        assert_eq!(forged.claimed.as_deref(), Some("carol@example.org"));
    }

    #[test]
    fn anything_less_is_at_most_a_claim() {
        // Not vouched: the From is the sender's word.
        let forged = ask("sip:bob@example.org", false, None);
        assert!(!forged.verified);
        assert_eq!((forged.jid, forged.name), (None, None));
        assert_eq!(forged.claimed.as_deref(), Some("bob@example.org"));
        let claim = ask("sip:x@evil.example", false, Some("xmpp:bob@example.org"));
        assert_eq!(claim.claimed.as_deref(), Some("bob@example.org"));
        assert!(!claim.verified && claim.jid.is_none());
        // Vouched, but nobody (or more than one) publishes the address.
        for uri in [
            "sip:dave@example.org",
            "sip:desk@example.org",
            "sip:bob@example.org.evil",
        ] {
            let who = ask(uri, true, Some("bob@example.org"));
            assert!(!who.verified && who.jid.is_none(), "{uri}");
            assert_eq!(who.claimed.as_deref(), Some("bob@example.org"));
        }
        // Junk claims are not shown.
        for junk in ["xmpp:example.org", "bob@example.org/phone", "<b>", ""] {
            assert_eq!(ask("sip:x@y", false, Some(junk)).claimed, None, "{junk}");
        }
    }
}
