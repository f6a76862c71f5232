//! SIP chat in the user's client, what waits across a restart, and where
//! contacts can call.

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

use super::{bob_writes, chat_sidecar, SIDECAR};

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
