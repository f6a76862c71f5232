//! Nothing Tandem answered 200 for is lost, and nothing is answered 200
//! that cannot be kept: a MESSAGE that the notes waiting for the user's
//! clients cannot take (full, or the file cannot be written) is answered
//! 503 with Retry-After, so the SIP sender tries again, and the retry gets
//! through once a client is online.

use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::XmppClient;

use super::{bob_writes, bob_writes_expecting, SIDECAR};

/// The sidecar with sip-chat.lua, logged in, `xmpp_extra` in its
/// `[plugins.xmpp]`, and none of alice's clients online.
fn alone_sidecar(server: &Prosody, alice: &str, xmpp_extra: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["sip-chat"],
        xmpp_extra,
        "",
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar
}

/// `held_notes = 1`: Bob's first MESSAGE (no client online) is kept and
/// answered 200; the second is answered 503 with Retry-After (the older
/// note is not dropped for it); once alice's client is online the first
/// reaches it and Bob's retry is answered 200 and reaches it too.
#[test]
fn a_full_spool_answers_503_with_retry_after_and_the_retry_gets_through() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let sidecar = alone_sidecar(&server, &alice, "held_notes = 1");
    let dir = tempfile::tempdir().unwrap();
    bob_writes(&sidecar, "5999", dir.path());
    bob_writes_expecting("chat_peer_refused.xml", &sidecar, "5999", dir.path());
    let sip = sidecar.call("sip.status", serde_json::json!({})).unwrap();
    assert_eq!(sip["answered_unavailable"], 1, "{sip}");

    let gajim = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let notes = || {
        gajim
            .seen()
            .into_iter()
            .filter(|e| e["event"] == "message" && e["from"] == SIDECAR)
            .collect::<Vec<_>>()
    };
    gajim.wait_for("the kept note", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    // The retry, now that a client is online: 200, and it reaches it.
    bob_writes(&sidecar, "5999", dir.path());
    // (It came at once: no XEP-0203 delay, unlike the kept one.)
    gajim.wait_for("the retried note", |e| {
        e["event"] == "message" && e["from"] == SIDECAR && !e["delay"].is_string()
    });
    let bodies: Vec<_> = notes().iter().map(|n| n["body"].clone()).collect();
    let text = "Bob <sip:bob@127.0.0.1:5999> (not verified): lunch at 1?";
    assert_eq!(bodies, [text, text], "{bodies:?}");
    // The first is the kept one (it says when it was written), the
    // second came at once.
    let held: Vec<bool> = notes().iter().map(|n| n["delay"].is_string()).collect();
    assert_eq!(held, [true, false], "{:?}", notes());
}

/// A spool that cannot be written (its folder is a file): no 200 for a
/// message that could only wait in memory; 503 with Retry-After.
#[test]
fn a_spool_that_cannot_be_written_answers_503_with_retry_after() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let blocked = tempfile::tempdir().unwrap();
    let file = blocked.path().join("not-a-folder");
    std::fs::write(&file, "").unwrap();
    let notes = file.join("notes.json");
    let sidecar = alone_sidecar(
        &server,
        &alice,
        &format!("notes_path = {:?}", notes.display().to_string()),
    );
    let dir = tempfile::tempdir().unwrap();
    bob_writes_expecting("chat_peer_refused.xml", &sidecar, "5999", dir.path());
    sidecar.wait_for("was refused for now");
}

/// The user switched SIP messages off (`rules off` for sip-chat): a
/// MESSAGE is answered 480 Temporarily Unavailable, so its sender knows it
/// was not delivered, not 503 (which would have it retry for as long as
/// the rule is off); switched on again, the next one gets through.
#[test]
fn with_sip_messages_switched_off_a_message_is_answered_480() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let sidecar = alone_sidecar(&server, &alice, "");
    let rule = |enabled: bool| {
        sidecar
            .call(
                "host.set_rule",
                serde_json::json!({ "name": "sip-chat", "enabled": enabled }),
            )
            .unwrap()
    };
    rule(false);
    let dir = tempfile::tempdir().unwrap();
    bob_writes_expecting("chat_peer_unavailable.xml", &sidecar, "5999", dir.path());
    sidecar.wait_for("480: rule `sip-chat` is switched off");
    rule(true);
    bob_writes(&sidecar, "5999", dir.path());
}
