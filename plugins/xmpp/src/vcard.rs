//! SIP addresses in a contact's vCard (XEP-0054 vcard-temp, what most
//! clients still edit): `<TEL><NUMBER>sip:bob@example.org</NUMBER></TEL>`.
//! The fallback for "Call a JID" when the contact publishes no XEP-0152
//! reachability address. Plain phone numbers are left out: calling them
//! needs a gateway the user has not named.

use xmpp_parsers::minidom::Element;

use crate::reach;

pub const NS: &str = "vcard-temp";

/// The `sip:`/`sips:` URIs among a vCard's telephone numbers.
pub fn sip_numbers(vcard: &Element) -> Vec<reach::Address> {
    if !vcard.is("vCard", NS) {
        return Vec::new();
    }
    vcard
        .children()
        .filter(|c| c.is("TEL", NS))
        .filter_map(|tel| tel.get_child("NUMBER", NS))
        .map(|number| number.text().trim().to_owned())
        .filter(|uri| {
            let lower = uri.to_ascii_lowercase();
            lower.starts_with("sip:") || lower.starts_with("sips:")
        })
        .map(|uri| reach::Address {
            uri,
            desc: Some("vCard".to_owned()),
        })
        .filter(|address| reach::validate(std::slice::from_ref(address)).is_ok())
        .collect()
}

/// The question: the contact's vCard, asked of their bare JID (the server
/// answers for them).
pub fn query() -> Element {
    Element::builder("vCard", NS).build()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn not_a_vcard_is_nothing() {
        let other: Element = "<query xmlns='jabber:iq:roster'/>".parse().unwrap();
        assert!(sip_numbers(&other).is_empty());
    }
}
