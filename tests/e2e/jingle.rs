//! XMPP calls count too (issue 21): the user's own client makes or takes
//! a XEP-0353 call with a contact (slixmpp sends the Jingle messages as
//! Conversations would); Tandem sees them as Carbons, or directly while it
//! is the top resource, shows "On the phone", and busy.lua keeps one call
//! at a time across SIP and XMPP.

use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::alice_and_bob;

use super::{answered_call, SIDECAR};

/// The sidecar with on-the-phone, notify-calls and busy.lua switched on.
fn busy_sidecar(server: &Prosody, alice: &str, rules: &[&str], extra: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        rules,
        "",
        &format!("\n[scripts.busy]\nenabled = true\n{extra}"),
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    sidecar
}

#[test]
fn a_call_taken_in_the_users_client_shows_on_the_phone_and_a_sip_call_meanwhile_is_busy() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = busy_sidecar(
        &server,
        &alice,
        &["on-the-phone", "notify-calls", "busy", "status-commands"],
        "",
    );
    phone.wait_for("the sidecar, below gajim", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["priority"] == -1
    });

    // Bob calls the user's bare JID: Gajim (priority 5) gets it, the
    // sidecar a Carbon of it.
    phone.send(
        json!({ "jingle": { "to": alice, "kind": "propose", "id": "s1", "media": ["audio"] } }),
    );
    gajim.wait_for("bob's proposal", |e| {
        e["event"] == "jingle" && e["kind"] == "propose" && e["id"] == "s1"
    });
    let log = sidecar.wait_for("EVENT xmpp.call.proposed");
    assert!(
        log.contains("EVENT xmpp.call.proposed bob@localhost")
            && log.contains("session=s1 direction=incoming"),
        "{log}"
    );
    // The user's client rings and takes it; the sidecar sees its Carbons.
    for kind in ["ringing", "proceed"] {
        gajim.send(json!({ "jingle": { "to": "bob@localhost/phone", "kind": kind, "id": "s1" } }));
    }
    sidecar.wait_for("EVENT xmpp.call.started bob@localhost");
    phone.wait_for("On the phone", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["status"] == "On the phone"
    });
    // "Status" lists it (status-commands.lua; the chat's `status` too).
    let status = sidecar.call("status.show", json!({})).unwrap();
    let text = status["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("XMPP calls: with bob@localhost (incoming, on alice@localhost/gajim)"),
        "{status}"
    );

    // A SIP call now is refused 486 Busy Here, and the user is told.
    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let _caller = Baresip::start(1000.0, Some(&uri));
    let log = sidecar.wait_for("SIP sip.call.ended");
    assert!(
        log.contains("reason=rejected") && log.contains("code=486"),
        "{log}"
    );
    gajim.wait_for("the note about the refused call", |e| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Refused a call from sip:bob@127.0.0.1")
    });

    // Bob hangs up: the presence is the sidecar's own again.
    phone.clear();
    phone.send(json!({ "jingle": { "to": "alice@localhost/gajim", "kind": "finish", "id": "s1", "reason": "success" } }));
    let log = sidecar.wait_for("EVENT xmpp.call.ended bob@localhost");
    assert!(log.contains("reason=finished condition=success"), "{log}");
    phone.wait_for("the sidecar back below gajim", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["priority"] == -1
    });
    let status = sidecar.call("status.show", json!({})).unwrap();
    assert!(
        !status["text"]
            .as_str()
            .unwrap_or_default()
            .contains("XMPP calls"),
        "{status}"
    );

    // Dino's older call invite is an invite too (to a Jingle call Tandem
    // cannot join).
    phone.send(json!({ "dino_propose": { "to": alice, "id": "d1" } }));
    let log = sidecar.wait_for("action=invite id=d1");
    assert!(log.contains("jingle=true"), "{log}");
}

#[test]
fn during_a_sip_call_an_xmpp_call_is_declined_as_busy_and_the_users_clients_stop_ringing() {
    let server = Prosody::start();
    let (alice, gajim, mut phone) = alice_and_bob(&server);
    let sidecar = busy_sidecar(
        &server,
        &alice,
        &["on-the-phone", "auto-answer", "busy"],
        "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n",
    );
    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    answered_call(&sidecar);
    baresip.wait_for("Call established");
    // On the phone, the sidecar is the top resource: Bob's proposal to the
    // bare JID reaches it directly.
    phone.wait_for("On the phone", |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && e["status"] == "On the phone"
    });
    phone.send(json!({ "jingle": { "to": alice, "kind": "propose", "id": "s2", "media": ["audio", "video"] } }));
    let declined = phone.wait_for("the sidecar's reject", |e| {
        e["event"] == "jingle" && e["kind"] == "reject"
    });
    assert_eq!(
        (&declined["id"], &declined["reason"], &declined["text"]),
        (&json!("s2"), &json!("busy"), &json!("On the phone")),
        "{declined}"
    );
    assert_eq!(declined["from"], SIDECAR, "{declined}");
    // The user's client sees the reject too (a Carbon), so it stops ringing.
    gajim.wait_for("the reject's Carbon", |e| {
        e["event"] == "message" && e["carbon"] == "sent" && e["jingle"]["kind"] == "reject"
    });
    let log = sidecar.wait_for("EVENT xmpp.call.ended bob@localhost");
    assert!(
        log.contains("session=s2 direction=incoming reason=rejected condition=busy"),
        "{log}"
    );
    assert!(
        log.contains("EVENT xmpp.call.proposed bob@localhost"),
        "{log}"
    );
}
