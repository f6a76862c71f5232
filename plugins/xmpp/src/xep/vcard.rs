//! SIP addresses in a contact's vCard: the fallback for "Call a JID" when
//! the contact publishes no XEP-0152 reachability address. Two formats, as
//! clients differ: XEP-0054 vcard-temp, asked of the contact's bare JID
//! (`<TEL><NUMBER>sip:bob@example.org</NUMBER></TEL>`), and XEP-0292 vCard4
//! in the contact's PEP node `urn:xmpp:vcard4` (`<tel><uri>sip:…</uri></tel>`,
//! and `<impp>`, which RFC 6350 §6.4.3 gives SIP addresses too; Gajim
//! edits this one). Plain phone numbers are left out of what is called:
//! calling them needs a gateway the user has not named. They are kept for
//! knowing who calls (`entries`).

use xmpp_parsers::minidom::Element;
use xmpp_parsers::pubsub::pubsub::{Items, PubSub};

use crate::xep::reach;

pub const NS: &str = "vcard-temp";
/// XEP-0292's vCard4 (RFC 6351 xCard) and the PEP node holding it.
pub const NS_VCARD4: &str = "urn:ietf:params:xml:ns:vcard-4.0";
pub const NODE_VCARD4: &str = "urn:xmpp:vcard4";

/// The `sip:`/`sips:` URIs in a vCard of either format (or in the PEP
/// answer holding a vCard4), in document order, each once, and no more
/// than a reach list may hold.
pub fn sip_numbers(answer: &Element) -> Vec<reach::Address> {
    let mut found: Vec<reach::Address> = Vec::new();
    for uri in entries(answer).iter().filter(|u| is_sip(u)) {
        let address = reach::Address {
            uri: uri.clone(),
            desc: Some("vCard".to_owned()),
        };
        if found.len() == reach::MAX_ADDRESSES {
            break;
        }
        if reach::validate(std::slice::from_ref(&address)).is_ok() && !found.contains(&address) {
            found.push(address);
        }
    }
    found
}

/// What a vCard of either format (or the PEP answer holding a vCard4)
/// lists as the contact's numbers and addresses, trimmed, in document
/// order: vcard-temp's TEL NUMBERs, vCard4's `tel` and `impp` values.
/// SIP URIs, `tel:` URIs and plain numbers alike: the index of who is
/// calling takes what it can compare (`peers::bindings`).
pub fn entries(answer: &Element) -> Vec<String> {
    let texts: Vec<String> = if answer.is("vCard", NS) {
        answer
            .children()
            .filter(|c| c.is("TEL", NS))
            .filter_map(|tel| tel.get_child("NUMBER", NS))
            .map(Element::text)
            .collect()
    } else if let Some(vcard) = vcard4_of(answer) {
        vcard
            .children()
            .filter(|c| c.is("tel", NS_VCARD4) || c.is("impp", NS_VCARD4))
            .flat_map(|property| {
                property
                    .children()
                    .filter(|v| v.is("uri", NS_VCARD4) || v.is("text", NS_VCARD4))
            })
            .map(Element::text)
            .collect()
    } else {
        Vec::new()
    };
    texts.iter().map(|t| t.trim().to_owned()).collect()
}

fn is_sip(uri: &str) -> bool {
    let lower = uri.get(..5).unwrap_or(uri).to_ascii_lowercase();
    lower.starts_with("sip:") || lower.starts_with("sips:")
}

/// The vCard4 itself: the element, or the payload of the first item of a
/// PEP answer for [`NODE_VCARD4`].
fn vcard4_of(answer: &Element) -> Option<Element> {
    if answer.is("vcard", NS_VCARD4) {
        return Some(answer.clone());
    }
    let PubSub::Items(items) = PubSub::try_from(answer.clone()).ok()? else {
        return None;
    };
    if items.node.0 != NODE_VCARD4 {
        return None;
    }
    items
        .items
        .into_iter()
        .find_map(|item| item.payload.filter(|p| p.is("vcard", NS_VCARD4)))
}

/// The vcard-temp question: the contact's vCard, asked of their bare JID
/// (the server answers for them).
pub fn query() -> Element {
    Element::builder("vCard", NS).build()
}

/// The vCard4 question: the current item of the contact's PEP node.
pub fn query_vcard4() -> Element {
    let mut items = Items::new(NODE_VCARD4);
    items.max_items = Some(1);
    PubSub::Items(items).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_is_an_entry_for_knowing_who_calls() {
        let vcard: Element = "<vCard xmlns='vcard-temp'>\
              <TEL><VOICE/><WORK/><NUMBER> +44 20 7946 0000 </NUMBER></TEL>\
              <TEL><NUMBER>sip:bob@pbx.example.org</NUMBER></TEL>\
              <EMAIL><USERID>bob@example.org</USERID></EMAIL>\
            </vCard>"
            .parse()
            .unwrap();
        assert_eq!(
            entries(&vcard),
            ["+44 20 7946 0000", "sip:bob@pbx.example.org"]
        );
        let vcard4: Element = "<vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'>\
              <tel><uri>tel:+1-555-1234</uri></tel>\
              <impp><uri>sip:bob@pbx.example.org</uri></impp>\
              <note><text>tel:+1-555-9999</text></note>\
            </vcard>"
            .parse()
            .unwrap();
        assert_eq!(
            entries(&vcard4),
            ["tel:+1-555-1234", "sip:bob@pbx.example.org"]
        );
    }

    #[test]
    fn only_sip_numbers_are_taken() {
        let vcard: Element = "<vCard xmlns='vcard-temp'>\
              <FN>Bob</FN>\
              <TEL><VOICE/><WORK/><NUMBER>+44 20 7946 0000</NUMBER></TEL>\
              <TEL><VOICE/><NUMBER> sip:bob@pbx.example.org </NUMBER></TEL>\
              <TEL><NUMBER>SIPS:bob@secure.example.org</NUMBER></TEL>\
              <TEL><NUMBER>sip:has space@example.org</NUMBER></TEL>\
              <TEL><VOICE/></TEL>\
            </vCard>"
            .parse()
            .unwrap();
        let uris: Vec<String> = sip_numbers(&vcard).into_iter().map(|a| a.uri).collect();
        assert_eq!(
            uris,
            ["sip:bob@pbx.example.org", "SIPS:bob@secure.example.org"]
        );
    }

    #[test]
    fn vcard4_tel_and_impp_sip_uris_are_taken_from_the_pep_answer() {
        let answer: Element = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
              <items node='urn:xmpp:vcard4'><item id='current'>\
                <vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'>\
                  <fn><text>Bob</text></fn>\
                  <tel><parameters><type><text>work</text></type></parameters>\
                    <uri>tel:+44-20-7946-0000</uri></tel>\
                  <tel><uri>sip:bob@pbx.example.org</uri></tel>\
                  <impp><uri>xmpp:bob@example.org</uri></impp>\
                  <impp><uri>sips:bob@secure.example.org</uri></impp>\
                  <tel><text>sip:bob@pbx.example.org</text></tel>\
                  <note><text>sip:not-a-phone@example.org</text></note>\
                </vcard>\
              </item></items>\
            </pubsub>"
            .parse()
            .unwrap();
        let uris: Vec<String> = sip_numbers(&answer).into_iter().map(|a| a.uri).collect();
        assert_eq!(
            uris,
            ["sip:bob@pbx.example.org", "sips:bob@secure.example.org"]
        );
    }

    #[test]
    fn another_nodes_items_or_an_empty_node_are_nothing() {
        let other: Element = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
              <items node='urn:xmpp:reach:0'><item id='current'>\
                <vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'>\
                  <tel><uri>sip:bob@pbx.example.org</uri></tel></vcard>\
              </item></items></pubsub>"
            .parse()
            .unwrap();
        assert!(sip_numbers(&other).is_empty());
        let empty: Element = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
              <items node='urn:xmpp:vcard4'/></pubsub>"
            .parse()
            .unwrap();
        assert!(sip_numbers(&empty).is_empty());
    }

    #[test]
    fn the_vcard4_question_asks_for_the_current_item() {
        let query = query_vcard4();
        let items = query
            .get_child("items", "http://jabber.org/protocol/pubsub")
            .expect("an <items/> in a <pubsub/>");
        assert_eq!(items.attr("node"), Some(NODE_VCARD4));
        assert_eq!(items.attr("max_items"), Some("1"));
    }

    #[test]
    fn a_vcard_full_of_numbers_gives_a_short_list() {
        let tels: String = (0..1000)
            .map(|i| format!("<TEL><NUMBER>sip:{i}@example.org</NUMBER></TEL>"))
            .collect();
        let vcard: Element = format!("<vCard xmlns='vcard-temp'>{tels}</vCard>")
            .parse()
            .unwrap();
        assert_eq!(sip_numbers(&vcard).len(), reach::MAX_ADDRESSES);
    }

    #[test]
    fn not_a_vcard_is_nothing() {
        let other: Element = "<query xmlns='jabber:iq:roster'/>".parse().unwrap();
        assert!(sip_numbers(&other).is_empty());
    }
}
