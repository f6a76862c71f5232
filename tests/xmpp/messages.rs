//! Messages and Carbons beside the user's own client, and chat states.

use crate::presence_from;
use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::alice_and_bob;

#[test]
fn the_sidecar_sits_beside_the_users_client_and_never_takes_its_messages() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);

    // The contact sees the sidecar, below the user's client.
    let seen = phone.wait_for(
        "the sidecar's presence",
        presence_from("alice@localhost/tandem"),
    );
    assert_eq!(seen["priority"], -1, "{seen}");
    // The sidecar sees the user's own client.
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    sidecar.wait_for("EVENT xmpp.contact_presence bob@localhost/phone available 0");

    // A message to the bare JID reaches the user's client, not the sidecar
    // (which only gets the Carbons copy).
    phone.send(json!({"message": {"to": alice, "body": "hello alice"}}));
    let got = gajim.wait_for("bob's message", |e| {
        e["event"] == "message" && e["body"] == "hello alice"
    });
    assert_eq!(
        got["carbon"],
        serde_json::Value::Null,
        "delivered directly: {got}"
    );
    sidecar.wait_for("hello alice carbon_received");
    assert!(
        !sidecar.log().contains("hello alice direct"),
        "{}",
        sidecar.log()
    );

    // Chat states and messages the user sends from their client arrive as
    // Carbons marked as sent by the user.
    gajim.send(json!({"message": {"to": "bob@localhost", "body": "see you"}}));
    phone.wait_for("alice's answer", |e| {
        e["event"] == "message" && e["body"] == "see you"
    });
    sidecar.wait_for("EVENT xmpp.message alice@localhost/gajim offline  see you carbon_sent");
}

#[test]
fn chat_states_flow_both_ways_only_where_wanted_and_never_twice() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);

    // Someone who has not shown chat states (by caps or by sending one):
    // refused, not sent.
    let err = sidecar
        .call(
            "xmpp.send_chat_state",
            json!({"to": "carol@localhost", "state": "composing"}),
        )
        .unwrap_err();
    assert!(
        err.contains("rejected") && err.contains("chat states"),
        "{err}"
    );
    // Bob's client says it does them: its caps (XEP-0115), asked about by
    // disco#info and checked against the hash, come with its presence.
    let log = sidecar.wait_for("EVENT xmpp.contact_presence bob@localhost/phone available");
    let seen = sidecar.wait_for("chatstates");
    let line = seen
        .lines()
        .find(|l| l.contains("bob@localhost/phone") && l.contains("chatstates"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(" features="), "{line}");

    // Bob types to alice: her client gets it, the sidecar gets the Carbons copy.
    phone.send(json!({"chat_state": {"to": alice, "state": "composing"}}));
    sidecar.wait_for("EVENT xmpp.chat_state bob@localhost/phone");
    // Alice types back from her client: the sidecar sees it as sent by her.
    gajim.send(json!({"chat_state": {"to": "bob@localhost/phone", "state": "composing"}}));
    sidecar.wait_for("EVENT xmpp.chat_state alice@localhost/gajim offline  nil carbon_sent");

    // Now the sidecar may send, once per state change.
    let first = sidecar
        .call(
            "xmpp.send_chat_state",
            json!({"to": "bob@localhost/phone", "state": "paused"}),
        )
        .unwrap();
    assert_eq!(first, json!({"sent": true}));
    let again = sidecar
        .call(
            "xmpp.send_chat_state",
            json!({"to": "bob@localhost/phone", "state": "paused"}),
        )
        .unwrap();
    assert_eq!(
        again,
        json!({"sent": false}),
        "the same standalone state is not repeated"
    );
    phone.wait_for("alice's paused", |e| {
        e["event"] == "chat_state"
            && e["from"] == "alice@localhost/tandem"
            && e["state"] == "paused"
    });

    sidecar
        .call(
            "xmpp.send_message",
            json!({"to": "bob@localhost/phone", "body": "from the sidecar", "thread": "t1"}),
        )
        .unwrap();
    phone.wait_for("the message", |e| {
        e["event"] == "message" && e["body"] == "from the sidecar"
    });
    let err = sidecar
        .call(
            "xmpp.send_message",
            json!({"to": "not a jid@@", "body": "x"}),
        )
        .unwrap_err();
    assert!(err.contains("invalid_arguments"), "{err}");
}
