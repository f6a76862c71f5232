//! PEP: activity (XEP-0108) and reachability addresses (XEP-0152).

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::alice_and_bob;

#[test]
fn activity_published_by_the_sidecar_reaches_contacts_that_want_it() {
    let server = Prosody::start();
    let (alice, _gajim, phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
    sidecar
        .call(
            "xmpp.set_activity",
            json!({"general": "talking", "specific": "on_the_phone", "text": "On the phone"}),
        )
        .unwrap();
    let seen = phone.wait_for("the activity", |e| {
        e["event"] == "activity" && e["general"] == "talking"
    });
    assert_eq!(
        (&seen["specific"], &seen["text"]),
        (&json!("on_the_phone"), &json!("On the phone")),
        "{seen}"
    );
    sidecar
        .call("xmpp.set_activity", json!({"general": ""}))
        .unwrap();
    phone.wait_for("the activity cleared", |e| {
        e["event"] == "activity" && e["general"].is_null()
    });

    // And the other way: the contact's activity reaches the rules (the
    // sidecar advertises activity+notify in its caps).
    let mut phone = phone;
    phone.send(
        json!({"activity": {"general": "eating", "specific": "having_lunch", "text": "brb"}}),
    );
    sidecar.wait_for("EVENT xmpp.activity bob@localhost offline  nil nil eating/having_lunch");
}

#[test]
fn reachability_addresses_go_both_ways_and_junk_is_refused() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(
        &server,
        &alice,
        "alice-secret",
        "reach = [\"sip:alice@example.org\"]",
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    // The contact's client (slixmpp's own XEP-0152) gets the configured
    // address by PEP, then the one a rule sets.
    phone.wait_for("alice's configured address", |e| {
        e["event"] == "reach" && e["uris"] == json!(["sip:alice@example.org"])
    });
    phone.wait_for("the address in the sidecar's presence", |e| {
        e["event"] == "presence"
            && e["from"] == "alice@localhost/tandem"
            && e["reach"] == json!(["sip:alice@example.org"])
    });
    sidecar
        .call(
            "xmpp.set_reach",
            json!({"addresses": [{"uri": "sip:alice@pbx.example.org", "desc": "Desk phone"}]}),
        )
        .unwrap();
    phone.wait_for("alice's new address", |e| {
        e["event"] == "reach" && e["uris"] == json!(["sip:alice@pbx.example.org"])
    });
    let err = sidecar
        .call(
            "xmpp.set_reach",
            json!({"addresses": [{"uri": "alice@example.org"}]}),
        )
        .unwrap_err();
    assert!(err.contains("is not a URI"), "{err}");

    // The other way: the contact publishes, the sidecar keeps it for
    // `xmpp.reach_of` and tells the rules.
    phone.send(json!({"reach": ["sip:bob@127.0.0.1:5070"]}));
    sidecar.wait_for(
        "EVENT xmpp.reach bob@localhost offline  nil nil nil/nil reach=sip:bob@127.0.0.1:5070",
    );
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost/phone"}))
        .unwrap();
    assert_eq!(
        known["addresses"][0]["uri"], "sip:bob@127.0.0.1:5070",
        "{known}"
    );
    // In presence (XEP-0152 §4.2) too: the event carries them, and they
    // become the ones `xmpp.reach_of` answers.
    phone.send(json!({"presence": {"reach": ["sip:bob@desk.example.org"]}}));
    sidecar.wait_for("reach=sip:bob@desk.example.org");
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        known["addresses"][0]["uri"], "sip:bob@desk.example.org",
        "{known}"
    );
    let none = sidecar
        .call("xmpp.reach_of", json!({"jid": "carol@localhost"}))
        .unwrap();
    assert_eq!(none["addresses"], json!([]), "{none}");
}
