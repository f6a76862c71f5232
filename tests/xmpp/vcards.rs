//! SIP addresses from a contact's vCard (XEP-0054) and vCard4 (XEP-0292).

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::alice_and_bob;

/// Without reachability addresses, the SIP numbers of a contact's vCard
/// (XEP-0054, as slixmpp publishes it) are where they can be called.
#[test]
fn a_contacts_vcard_sip_number_is_the_fallback_address() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
    let none = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(none["addresses"], json!([]), "no vCard yet: {none}");
    phone.send(json!({"vcard_tel": ["+44 20 7946 0000", "sip:bob@vcard.example.org"]}));
    phone.wait_for("the vCard stored", |e| e["event"] == "vcard_published");
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        known["addresses"],
        json!([{"uri": "sip:bob@vcard.example.org", "desc": "vCard"}]),
        "{known}"
    );
}

/// XEP-0292: the SIP addresses of a contact's vCard4, in their PEP node,
/// as Gajim keeps the profile; alongside a vcard-temp, both are found,
/// vCard4's first and each address once.
#[test]
fn a_contacts_vcard4_sip_addresses_are_found_too() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
    phone.send(json!({"vcard4_tel": ["tel:+44-20-7946-0000", "sip:bob@vcard4.example.org"]}));
    phone.wait_for("the vCard4 published", |e| e["event"] == "vcard_published");
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        known["addresses"],
        json!([{"uri": "sip:bob@vcard4.example.org", "desc": "vCard"}]),
        "{known}"
    );
    phone.clear();
    phone.send(json!({"vcard_tel": ["sip:bob@vcard.example.org", "sip:bob@vcard4.example.org"]}));
    phone.wait_for("the vCard stored", |e| e["event"] == "vcard_published");
    let both = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        both["addresses"],
        json!([
            {"uri": "sip:bob@vcard4.example.org", "desc": "vCard"},
            {"uri": "sip:bob@vcard.example.org", "desc": "vCard"}
        ]),
        "{both}"
    );
}
