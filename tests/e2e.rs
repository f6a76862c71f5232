//! The product end to end: a real SIP peer (baresip) calls the sidecar,
//! which runs both plugins and the shipped rules against a real Prosody;
//! slixmpp clients play the user's own client and a contact.

use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::alice_and_bob;

const SIDECAR: &str = "alice@localhost/tandem";

/// The sidecar with every rule a user runs, answering any caller.
fn alice_sidecar(server: &Prosody, alice: &str, extra: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        alice,
        "alice-secret",
        "alice",
        &["on-the-phone", "notify-calls", "auto-answer"],
        &format!("\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n{extra}"),
    );
    sidecar.wait_for("online as alice@localhost/tandem");
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    sidecar
}

fn answered_call(sidecar: &Sidecar) -> String {
    let log = sidecar.wait_for("SIP sip.call.answered");
    let line = log
        .lines()
        .find(|l| l.contains("SIP sip.call.answered"))
        .unwrap();
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("call="))
        .unwrap()
        .to_owned()
}

#[test]
fn a_real_call_shows_on_the_phone_to_contacts_and_messages_still_reach_the_users_client() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = alice_sidecar(&server, &alice, "");
    phone.wait_for("the sidecar, below gajim", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["priority"] == -1
    });
    phone.clear();

    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));

    // The user's own client is told, by the sidecar.
    let note = gajim.wait_for("the call notification", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .starts_with("Incoming call from sip:bob@127.0.0.1"),
        "{note}"
    );

    // The rule answers; the contact's client sees "On the phone" on the
    // account's top resource (above gajim's 5) and the activity via PEP.
    let id = answered_call(&sidecar);
    baresip.wait_for("Call established");
    let seen = phone.wait_for("On the phone", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["status"] == "On the phone"
    });
    assert_eq!(
        (&seen["show"], &seen["priority"]),
        (&json!("away"), &json!(6)),
        "{seen}"
    );
    let activity = phone.wait_for("the activity", |e| {
        e["event"] == "activity" && e["general"] == "talking"
    });
    assert_eq!(activity["specific"], "on_the_phone", "{activity}");

    // During the call a message to the bare JID reaches the user's client.
    phone.send(json!({"message": {"to": alice, "body": "are you there?"}}));
    let got = gajim.wait_for("bob's message during the call", |e| {
        e["event"] == "message" && e["body"] == "are you there?"
    });
    assert_eq!(got["from"], "bob@localhost/phone", "{got}");

    // The user sets DND in their own client during the call: the sidecar
    // stays on top meanwhile, and afterwards contacts see the DND.
    gajim.send(json!({"presence": {"show": "dnd", "status": "Focus"}}));
    phone.wait_for("alice's DND", |e| {
        e["from"] == "alice@localhost/gajim" && e["show"] == "dnd"
    });
    assert_eq!(
        sidecar.call("xmpp.presence", json!({})).unwrap()["status"],
        "On the phone"
    );

    phone.clear();
    sidecar.call("sip.hangup", json!({ "call": id })).unwrap();
    let back = phone.wait_for("the sidecar stepping back", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["priority"] == -1
    });
    assert_eq!(
        (&back["show"], &back["status"]),
        (&json!(null), &json!(null)),
        "{back}"
    );
    phone.wait_for("the activity cleared", |e| {
        e["event"] == "activity" && e["general"].is_null()
    });
    assert!(
        phone
            .seen()
            .iter()
            .all(|e| e["from"] != "alice@localhost/gajim"),
        "Tandem never touches the user's own client's presence"
    );
    let ended = sidecar.wait_for("SIP sip.call.ended");
    assert!(ended.contains("reason=hangup"), "{ended}");
}

#[test]
fn with_the_rule_switched_off_a_call_changes_no_presence() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = alice_sidecar(
        &server,
        &alice,
        "\n[scripts.on-the-phone]\nenabled = false\n",
    );
    phone.wait_for("the sidecar", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR
    });
    phone.clear();
    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let baresip = Baresip::start(440.0, Some(&uri));
    let id = answered_call(&sidecar);
    baresip.wait_for("Call established");
    // Something observable after the answer, so a presence change (which
    // would come first) has had its chance to arrive.
    phone.send(json!({"message": {"to": SIDECAR, "body": "ping"}}));
    sidecar.wait_for("ping direct");
    sidecar.call("sip.hangup", json!({ "call": id })).unwrap();
    sidecar.wait_for("SIP sip.call.ended");
    phone.send(json!({"message": {"to": SIDECAR, "body": "pong"}}));
    sidecar.wait_for("pong direct");
    assert!(
        phone.seen().iter().all(|e| e["from"] != SIDECAR),
        "no presence while the rule is off: {:?}",
        phone.seen()
    );
}
