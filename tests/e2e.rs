//! The product end to end: a real SIP peer (baresip) calls the sidecar,
//! which runs both plugins and the shipped rules against a real Prosody;
//! slixmpp clients play the user's own client and a contact.

use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

const SIDECAR: &str = "alice@localhost/tandem";

/// The sidecar with every rule a user runs, answering any caller.
fn alice_sidecar(server: &Prosody, alice: &str, xmpp_extra: &str, extra: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["on-the-phone", "notify-calls", "auto-answer"],
        xmpp_extra,
        &format!("\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n{extra}"),
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    sidecar
}

fn answered_call(sidecar: &Sidecar) -> String {
    let log = sidecar.wait_for("SIP sip.call.answered");
    let id = field(&event_line(&log, "sip.call.answered"), "call").to_owned();
    assert!(!id.is_empty(), "{log}");
    id
}

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
    assert!(note.starts_with(&format!("Calling {to} (call ")), "{note}");
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
    assert!(
        note.starts_with(&format!("Calling bob@localhost at {to} (call ")),
        "{note}"
    );
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

    // A contact logging in now sees the sidecar as it was before the call.
    let phone = XmppClient::login(&server, "bob@localhost", "bob-secret", "phone2", 0);
    let seen = phone.wait_for("the sidecar after reconnect", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR
    });
    assert_eq!(
        (&seen["show"], &seen["status"], &seen["priority"]),
        (&json!(null), &json!(null), &json!(-1)),
        "{seen}"
    );
    assert_eq!(
        sidecar.call("xmpp.presence", json!({})).unwrap(),
        json!({"show": null, "status": null, "priority": -1})
    );
}

/// The sidecar with both plugins and sip-chat.lua, online.
fn chat_sidecar(server: &Prosody, alice: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["sip-chat"],
        "",
        "",
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar
}

/// sipp writes to the sidecar as Bob, "lunch at 1?", from
/// `sip:bob@127.0.0.1:<peer_port>` (where he takes answers).
fn bob_writes(sidecar: &Sidecar, peer_port: &str, dir: &std::path::Path) {
    sipp::run_ok(
        &[
            "-sf",
            &sipp::scenario_path("chat_peer_says.xml"),
            "-m",
            "1",
            "-key",
            "peer_port",
            peer_port,
            &format!("127.0.0.1:{}", sidecar.sip_port()),
        ],
        dir,
    );
}

/// sip-chat.lua end to end: sipp plays a SIP contact (Bob), slixmpp the
/// user's client. Bob's MESSAGE reaches the client from the sidecar, in
/// Bob's thread and archived; a message naming no one is never sent to
/// SIP; a XEP-0461 reply goes to Bob without its quote and the 200 comes
/// back as a receipt; an address where nothing listens is a note saying so.
#[test]
fn sip_messages_reach_the_users_client_and_replies_go_back_with_a_receipt() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let sidecar = chat_sidecar(&server, &alice);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    let dir = tempfile::tempdir().unwrap();
    let peer_port = sipp::free_udp_port().to_string();
    let bob = format!("sip:bob@127.0.0.1:{peer_port}");
    // Bob's answering address: the first MESSAGE it gets must be the reply.
    let bob_hears = sipp::Background::once("chat_peer_hears.xml", &peer_port, dir.path());
    bob_writes(&sidecar, &peer_port, dir.path());
    let from_sidecar = |starts: &'static str| {
        move |e: &serde_json::Value| {
            e["event"] == "message"
                && e["from"] == SIDECAR
                && e["body"].as_str().is_some_and(|b| b.starts_with(starts))
        }
    };
    let note = gajim.wait_for("Bob's message", from_sidecar("Bob <"));
    // sipp is no registrar: the sender is marked as not vouched for.
    assert_eq!(
        note["body"],
        format!("Bob <{bob}> (not verified): lunch at 1?"),
        "{note}"
    );
    assert_eq!(note["thread"], format!("tandem-sip:{bob}"), "{note}");
    assert!(
        note["hints"].as_array().unwrap().contains(&json!("store")),
        "{note}"
    );
    let id = note["id"].as_str().expect("the note has an id").to_owned();

    // Naming no one: a hint, and nothing reaches Bob (his sipp would fail
    // on a first MESSAGE that is not the reply below).
    gajim.send(json!({ "message": { "to": SIDECAR, "body": "buy milk" } }));
    gajim.wait_for("the hint", from_sidecar("Not sent: "));

    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": "yes, at 1", "id": "m-1", "receipt": true,
        "reply_to": id, "quote": format!("Bob <{bob}> (not verified): lunch at 1?"),
    } }));
    bob_hears.wait_ok(dir.path());
    gajim.wait_for("the receipt", |e| {
        e["event"] == "receipt" && e["id"] == "m-1" && e["from"] == SIDECAR
    });

    let closed = sipp::free_udp_port();
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("/msg sip:carol@127.0.0.1:{closed} hello"),
    } }));
    let failed = gajim.wait_for(
        "the failure note",
        from_sidecar("Not delivered to sip:carol@127.0.0.1"),
    );
    assert!(
        failed["body"].as_str().unwrap().contains("cannot reach"),
        "{failed}"
    );
}

/// Nothing Tandem answered 200 for is lost: a SIP message that arrives
/// while none of the user's clients is online waits on disk, `tandem run`
/// is restarted (SIGTERM), and the message still reaches the client that
/// comes online afterwards, once.
#[test]
fn a_sip_message_waits_on_disk_for_the_users_client_across_a_restart() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let mut sidecar = chat_sidecar(&server, &alice);
    let dir = tempfile::tempdir().unwrap();
    bob_writes(&sidecar, "5999", dir.path());
    let spooled = sidecar
        .dir
        .path()
        .join("state/tandem/notes-alice@localhost.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !spooled.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the note never reached the spool:\n{}",
            sidecar.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    sidecar.restart();
    sidecar.wait_for("note(s) for you kept from before the restart");
    sidecar.wait_online(SIDECAR, 1);
    let gajim = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let note = gajim.wait_for("the kept note", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    // It says when it was written (XEP-0203), not when it arrived: a
    // UTC stamp at least a second before the client received it.
    let stamp = note["delay"].as_str().unwrap_or_default();
    assert!(
        stamp.len() == 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{note}"
    );
    assert_eq!(
        note["body"], "Bob <sip:bob@127.0.0.1:5999> (not verified): lunch at 1?",
        "{note}"
    );
    // Delivered: the spool is empty again, and nothing comes twice.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while spooled.exists() {
        assert!(std::time::Instant::now() < deadline, "still spooled");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let notes = gajim
        .seen()
        .iter()
        .filter(|e| e["event"] == "message" && e["from"] == SIDECAR)
        .count();
    assert_eq!(notes, 1, "{:?}", gajim.seen());
}

/// REQ-3 with no registrar: listening is enough to be called, so
/// publish-reach.lua publishes the SIP plugin's own address as XEP-0152
/// reachability, and a contact's client (slixmpp's XEP-0152) sees it.
#[test]
fn contacts_see_where_to_call_while_the_phone_can_take_calls() {
    let server = Prosody::start();
    let (alice, _gajim, phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start_phone(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &["publish-reach"],
        "",
        "\n[scripts.publish-reach]\nenabled = true\n",
    );
    sidecar.wait_online(SIDECAR, 1);
    let status = sidecar.call("sip.status", json!({})).unwrap();
    let address = status["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("sip:alice@127.0.0.1:"), "{status}");
    phone.wait_for("alice's reachability", |e| {
        e["event"] == "reach"
            && e["from"]
                .as_str()
                .is_some_and(|f| f.starts_with("alice@localhost"))
            && e["uris"]
                .as_array()
                .is_some_and(|u| u.iter().any(|x| x == address.as_str()))
    });
}
