//! REQ-4 end to end: Alice's Tandem calls Bob's; once the call is up it
//! gives Bob a pre-authorised roster link in a SIP MESSAGE (Alice placed
//! the call, so the peer is whom she meant); Bob's Tandem tells him
//! "Alice's XMPP address is …" (once: not the link's text too), Bob says
//! `add`, and Alice's sidecar approves his request and asks back, which
//! Bob's pre-approval lets through: both subscribed, and neither user had
//! to approve anything.

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::XmppClient;

#[test]
fn a_call_gives_a_roster_link_and_add_subscribes_both_ways() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let bob = server.register("bob", "bob-secret");
    let _alice_client = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let mut bob_client = XmppClient::login(&server, &bob, "bob-secret", "gajim", 5);
    let rules = ["preauth-links", "sip-chat"];
    let alice_tandem =
        Sidecar::start_phone(&server, (&alice, "alice-secret"), "alice", &rules, "", "");
    let bob_tandem = Sidecar::start_phone(
        &server,
        (&bob, "bob-secret"),
        "bob",
        &["preauth-links", "sip-chat", "auto-answer"],
        "",
        "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n",
    );
    alice_tandem.wait_online("alice@localhost/tandem", 1);
    bob_tandem.wait_online("bob@localhost/tandem", 1);
    bob_tandem.wait_for("EVENT xmpp.own_presence bob@localhost/gajim available 5");

    let bob_sip = format!("sip:bob@127.0.0.1:{}", bob_tandem.sip_port());
    alice_tandem
        .call("sip.call", json!({ "to": bob_sip }))
        .unwrap();
    alice_tandem.wait_for(&format!(
        "gave {bob_sip} a roster link of your XMPP account"
    ));
    let note = bob_client.wait_for("the link's note", |e| {
        e["event"] == "message"
            && e["from"] == "bob@localhost/tandem"
            && e["body"]
                .as_str()
                .is_some_and(|b| b.contains("XMPP address is alice@localhost"))
    });
    assert!(
        !note["body"].as_str().unwrap().contains("preauth="),
        "{note}"
    );

    bob_client.send(json!({"message": {"to": "bob@localhost/tandem", "body": "add"}}));
    alice_tandem.wait_for(&format!(
        "bob@localhost asked for presence with the roster link given to {bob_sip}: approved"
    ));
    bob_client.wait_for("add's answer", |e| {
        e["event"] == "message"
            && e["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("Asked alice@localhost to be your contact"))
    });
    // One note for the link: sip-chat handed it to preauth-links instead
    // of relaying its text as well (the notes of one MESSAGE go out in
    // order, before add's answer).
    let raw: Vec<_> = bob_client
        .seen()
        .into_iter()
        .filter(|e| {
            e["event"] == "message"
                && e["from"] == "bob@localhost/tandem"
                && e["body"].as_str().is_some_and(|b| b.contains("preauth="))
        })
        .collect();
    assert!(raw.is_empty(), "the link's text was relayed too: {raw:?}");
    // Alice's Tandem sees Bob's presence now: approved by her sidecar. (The
    // server hands the request to her client too, as to every resource of
    // hers online; it is approved by then.)
    alice_tandem.wait_for("EVENT xmpp.contact_presence bob@localhost/");
    bob_tandem.wait_for("EVENT xmpp.contact_presence alice@localhost/");
}
