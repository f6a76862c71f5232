//! The link: back after the server restarts, what changed meanwhile, and
//! nothing delivered sent twice.

use crate::presence_from;
use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

#[test]
fn after_the_server_restarts_the_sidecar_is_back_with_its_presence_and_nothing_lost() {
    let mut server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let bob = server.register("bob", "bob-secret");
    {
        let mut gajim = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
        let mut phone = XmppClient::login(&server, &bob, "bob-secret", "phone", 0);
        gajim.send(json!({"subscribe": bob}));
        phone.send(json!({"subscribe": alice}));
        phone.wait_for("alice", presence_from("alice@localhost/gajim"));
    }
    let sidecar = Sidecar::start(
        &server,
        &alice,
        "alice-secret",
        "keepalive_seconds = 1\nreconnect_base_seconds = 1\n",
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    let busy = json!({"show": "away", "status": "On the phone", "priority": 3});
    sidecar.call("xmpp.set_presence", busy).unwrap();

    server.restart();
    // Asked while the server is away: queued, not lost.
    sidecar
        .call(
            "xmpp.notify_user",
            json!({"text": "missed call from carol"}),
        )
        .unwrap();
    sidecar.wait_online("alice@localhost/tandem", 2);

    let phone = XmppClient::login(&server, &bob, "bob-secret", "phone", 0);
    let seen = phone.wait_for("the sidecar again", presence_from("alice@localhost/tandem"));
    assert_eq!(
        (&seen["show"], &seen["status"]),
        (&json!("away"), &json!("On the phone")),
        "{seen}"
    );
    let gajim = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    gajim.wait_for("the queued notification", |e| {
        e["event"] == "message" && e["body"] == "missed call from carol"
    });
}

/// The sidecar's connection breaks and comes back as a new session (the
/// server restarted): the server sends the presence of the user's clients
/// that are online now, and nothing about those that left meanwhile. Rules
/// keep their own view of the clients (`reject-when-dnd` keeps "Gajim is
/// on Do Not Disturb"), so the sidecar must say those are gone, or a
/// client that never comes back stays on DND for the rules forever.
#[test]
fn a_client_that_left_while_the_connection_was_down_is_reported_gone() {
    let mut server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(
        &server,
        &alice,
        "alice-secret",
        "keepalive_seconds = 1\nreconnect_base_seconds = 1\n",
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    gajim.send(json!({"presence": {"show": "dnd", "priority": 5}}));
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim dnd 5");

    // The server goes away, and so does Gajim (slixmpp here does not
    // reconnect): nobody can tell the sidecar while it is down.
    server.stop();
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(gajim);
    server.resume();
    sidecar.wait_online("alice@localhost/tandem", 2);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim offline");
    let status = sidecar.call("xmpp.status", json!({})).unwrap();
    assert_eq!(status["own_resources"], json!([]), "{status}");
}

/// Without XEP-0198 the server never acknowledges a stanza, so "not
/// acknowledged" cannot mean "lost": a message delivered long before the
/// connection broke must not be sent again after it.
#[test]
fn without_stream_management_nothing_delivered_is_sent_again_after_a_reconnection() {
    let mut server = Prosody::start();
    let config = std::fs::read_to_string(server.config()).unwrap();
    std::fs::write(server.config(), config.replace(", \"smacks\"", "")).unwrap();
    server.restart();
    let (alice, _gajim, phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(
        &server,
        &alice,
        "alice-secret",
        "keepalive_seconds = 1\nreconnect_base_seconds = 1\n",
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    sidecar
        .call(
            "xmpp.send_message",
            json!({"to": "bob@localhost/phone", "body": "delivered once"}),
        )
        .unwrap();
    phone.wait_for("the message", |e| {
        e["event"] == "message" && e["body"] == "delivered once"
    });
    drop(phone);

    server.stop();
    std::thread::sleep(std::time::Duration::from_secs(3));
    server.resume();
    sidecar.wait_online("alice@localhost/tandem", 2);
    // Sent again, it would wait in bob's offline storage.
    sidecar
        .call(
            "xmpp.send_message",
            json!({"to": "bob@localhost", "body": "after the break"}),
        )
        .unwrap();
    let bob = XmppClient::login(&server, "bob@localhost", "bob-secret", "laptop", 0);
    bob.wait_for("the new message", |e| {
        e["event"] == "message" && e["body"] == "after the break"
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let again = bob
        .seen()
        .iter()
        .filter(|e| e["body"] == "delivered once")
        .count();
    assert_eq!(again, 0, "sent again: {:?}\n{}", bob.seen(), sidecar.log());
}
