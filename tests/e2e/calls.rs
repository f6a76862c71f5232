//! Calls: "On the phone" for contacts, the user's commands, DND.

use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

use super::{alice_sidecar, answered_call, SIDECAR};

#[test]
fn a_real_call_shows_on_the_phone_to_contacts_and_messages_still_reach_the_users_client() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = alice_sidecar(&server, &alice, "", "");
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
        "",
        "\n[scripts.on-the-phone]\nenabled = false\n",
    );
    // The sidecar below the user's client (-1, no status): until it has
    // seen that client it may first show "Reachable by phone" (xa).
    phone.wait_for("the sidecar below the user's client", |e| {
        e["event"] == "presence"
            && e["from"] == SIDECAR
            && e["priority"] == -1
            && e["show"].is_null()
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

/// Runs an ad-hoc command from `client` on the sidecar; its notes, or the
/// IQ error condition.
fn adhoc(client: &mut XmppClient, node: &str, fields: Option<serde_json::Value>) -> String {
    client.clear();
    let mut run = json!({"jid": SIDECAR, "node": node});
    if let Some(fields) = fields {
        run["fields"] = fields;
    }
    client.send(json!({ "adhoc_run": run }));
    let done = client.wait_for(node, |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    match done["event"].as_str() {
        Some("iq_error") => format!("error: {}", done["condition"].as_str().unwrap_or("?")),
        _ => done["notes"][0].as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn the_users_own_client_answers_rejects_places_and_hangs_up_calls_and_a_stranger_cannot() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start_phone(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &["call-control", "notify-calls"],
        "",
        "",
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());

    // Answer a ringing call from the user's client.
    let caller = Baresip::start(1000.0, Some(&uri));
    gajim.wait_for("the call notification", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    let note = adhoc(&mut gajim, "answer", None);
    assert!(note.starts_with("Answered sip:bob@127.0.0.1"), "{note}");
    caller.wait_for("Call established");

    // A contact is refused, and the call stays up.
    assert_eq!(adhoc(&mut phone, "hangup", None), "error: forbidden");
    let note = adhoc(&mut gajim, "hangup", None);
    assert!(
        note.starts_with("Hung up the call with sip:bob@127.0.0.1"),
        "{note}"
    );
    let log = sidecar.wait_for("SIP sip.call.ended");
    assert!(log.contains("reason=hangup"), "{log}");

    // Place a call: the command asks for the URI first.
    let to = format!("sip:bob@127.0.0.1:{}", caller.port);
    let note = adhoc(&mut gajim, "call", Some(json!({ "uri": to })));
    assert!(
        gajim
            .seen()
            .iter()
            .any(|e| e["event"] == "adhoc_form" && e["fields"] == json!(["uri"])),
        "{:?}",
        gajim.seen()
    );
    assert_eq!(note, format!("Calling {to}."), "{note}");
    sidecar.wait_for_n("SIP sip.call.answered", 2);
    let note = adhoc(&mut gajim, "hangup", None);
    assert!(
        note.starts_with("Hung up the call with sip:bob@127.0.0.1"),
        "{note}"
    );
    sidecar.wait_for_n("SIP sip.call.ended", 2);

    // Call a contact by JID: bob's own client publishes where he takes
    // calls (XEP-0152, slixmpp's implementation), and "Call" uses it.
    phone.send(json!({ "reach": [to] }));
    sidecar.wait_for(&format!(
        "EVENT xmpp.reach bob@localhost offline  nil nil nil/nil reach={to}"
    ));
    let note = adhoc(&mut gajim, "call", Some(json!({ "uri": "bob@localhost" })));
    assert!(note == format!("Calling bob@localhost at {to}."), "{note}");
    sidecar.wait_for_n("SIP sip.call.answered", 3);
    let note = adhoc(&mut gajim, "hangup", None);
    assert!(
        note.starts_with("Hung up the call with sip:bob@127.0.0.1"),
        "{note}"
    );
    sidecar.wait_for_n("SIP sip.call.ended", 3);
    drop(caller);

    // Reject the next one with the configured code.
    let _caller = Baresip::start(1000.0, Some(&uri));
    sidecar.wait_for_n("SIP sip.call.incoming", 2);
    let note = adhoc(&mut gajim, "reject", None);
    assert!(
        note.starts_with("Rejected the call from sip:bob@127.0.0.1") && note.ends_with("(busy)."),
        "{note}"
    );
    let log = sidecar.wait_for_n("SIP sip.call.ended", 4);
    let last = log
        .lines()
        .rfind(|l| l.contains("SIP sip.call.ended"))
        .unwrap();
    assert!(
        last.contains("reason=rejected") && last.contains("code=486"),
        "{last}"
    );

    // With nothing ringing, the answer says why, in plain words: no bus
    // command names, no error kinds (what Profanity showed before:
    // "calls.answer: rejected: there is no ringing call").
    let note = adhoc(&mut gajim, "answer", None);
    assert!(note.to_lowercase().contains("no"), "{note}");
    assert!(
        !note.contains("calls.") && !note.contains("rejected") && note.ends_with('.'),
        "{note}"
    );
    assert!(note.starts_with(char::is_uppercase), "{note}");
}

#[test]
fn on_do_not_disturb_a_call_is_refused_and_the_user_gets_one_note_about_it() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start_phone(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &["notify-calls", "reject-when-dnd"],
        "",
        "\n[scripts.reject-when-dnd]\nenabled = true\n",
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    gajim.send(json!({"presence": {"show": "dnd", "status": "Focus"}}));
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim dnd");

    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let _caller = Baresip::start(1000.0, Some(&uri));
    let log = sidecar.wait_for("SIP sip.call.ended");
    assert!(
        log.contains("reason=rejected") && log.contains("code=486"),
        "{log}"
    );

    // The sidecar's messages reach gajim in the order they were sent: the
    // first is about the refusal, not an "Incoming call" that is already over.
    let note = gajim.wait_for("the note about the refused call", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .starts_with("Rejected a call from sip:bob@127.0.0.1"),
        "{note}"
    );
}

#[test]
fn a_call_that_ends_while_the_xmpp_server_is_down_leaves_the_right_presence_after_reconnect() {
    let mut server = Prosody::start();
    let (alice, _gajim, phone) = alice_and_bob(&server);
    let sidecar = alice_sidecar(
        &server,
        &alice,
        "keepalive_seconds = 1\nreconnect_base_seconds = 1",
        "",
    );
    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let _baresip = Baresip::start(1000.0, Some(&uri));
    let id = answered_call(&sidecar);
    phone.wait_for("On the phone", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["status"] == "On the phone"
    });

    // The server goes away; the call ends meanwhile (SIP does not care).
    server.stop();
    sidecar.call("sip.hangup", json!({ "call": id })).unwrap();
    sidecar.wait_for("SIP sip.call.ended");
    server.resume();
    sidecar.wait_online("alice@localhost/tandem", 2);

    // A contact logging in now sees the sidecar with its own presence, no
    // longer "On the phone": the one it shows while none of the user's
    // clients is online (slixmpp does not reconnect after the server's
    // restart), not plain available.
    let phone = XmppClient::login(&server, "bob@localhost", "bob-secret", "phone2", 0);
    let seen = phone.wait_for("the sidecar after reconnect", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR
    });
    assert_eq!(
        (&seen["show"], &seen["status"], &seen["priority"]),
        (&json!("xa"), &json!("Reachable by phone"), &json!(-1)),
        "{seen}"
    );
    assert_eq!(
        sidecar.call("xmpp.presence", json!({})).unwrap(),
        json!({"show": null, "status": null, "priority": -1})
    );
}
