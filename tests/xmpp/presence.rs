//! Presence: what rules set is what contacts see, restored exactly; state
//! kept only for the roster.

use crate::presence_from;
use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

#[test]
fn rules_set_the_presence_contacts_see_and_restore_it_exactly() {
    let server = Prosody::start();
    let (alice, mut gajim, phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    phone.wait_for("the sidecar", presence_from("alice@localhost/tandem"));
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    let before = sidecar.call("xmpp.presence", json!({})).unwrap();
    assert_eq!(
        before,
        json!({"show": null, "status": null, "priority": -1})
    );

    phone.clear();
    let on_call = json!({"show": "away", "status": "On the phone", "priority": 6});
    // The answer: the presence now in force, and the one it replaced.
    let mut expected = on_call.clone();
    expected["previous"] = before.clone();
    assert_eq!(
        sidecar.call("xmpp.set_presence", on_call.clone()).unwrap(),
        expected
    );
    let seen = phone.wait_for("On the phone", |e| {
        e["event"] == "presence"
            && e["from"] == "alice@localhost/tandem"
            && e["status"] == "On the phone"
    });
    assert_eq!(
        (&seen["show"], &seen["priority"]),
        (&json!("away"), &json!(6)),
        "{seen}"
    );

    phone.clear();
    sidecar.call("xmpp.set_presence", before.clone()).unwrap();
    let seen = phone.wait_for("restored", presence_from("alice@localhost/tandem"));
    assert_eq!(
        (&seen["show"], &seen["status"], &seen["priority"]),
        (&json!(null), &json!(null), &json!(-1)),
        "{seen}"
    );
    assert_eq!(sidecar.call("xmpp.presence", json!({})).unwrap(), before);

    // Bad input is refused with the reason, and changes nothing.
    let err = sidecar
        .call("xmpp.set_presence", json!({"show": "busy"}))
        .unwrap_err();
    assert!(
        err.contains("invalid_arguments") && err.contains("busy"),
        "{err}"
    );
    let err = sidecar
        .call("xmpp.set_activity", json!({"general": "dancing"}))
        .unwrap_err();
    assert!(err.contains("not a XEP-0108 general activity"), "{err}");

    // The user sets DND in their own client: the rules see it.
    gajim.send(json!({"presence": {"show": "dnd", "status": "Focus"}}));
    gajim.wait_for("DND sent", |e| {
        e["event"] == "presence_sent" || e["event"] == "error"
    });
    phone.wait_for("alice's DND", |e| {
        e["from"] == "alice@localhost/gajim" && e["show"] == "dnd"
    });
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim dnd 5");

    // Notifications reach the user's client, from the sidecar.
    sidecar
        .call(
            "xmpp.notify_user",
            json!({"text": "Incoming call from Bob <sip:bob@127.0.0.1>"}),
        )
        .unwrap();
    let note = gajim.wait_for("the notification", |e| {
        e["event"] == "message" && e["body"] == "Incoming call from Bob <sip:bob@127.0.0.1>"
    });
    assert_eq!(note["from"], "alice@localhost/tandem", "{note}");
    // Once: the server does not copy it back as a Carbon of what the
    // account sent (a second note, received, shows the first is done).
    sidecar
        .call("xmpp.notify_user", json!({"text": "second"}))
        .unwrap();
    gajim.wait_for("the second notification", |e| {
        e["event"] == "message" && e["body"] == "second"
    });
    let copies: Vec<serde_json::Value> = gajim
        .seen()
        .into_iter()
        .filter(|e| {
            e["event"] == "message"
                && e["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("Incoming call"))
        })
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");

    let status = sidecar.call("xmpp.status", json!({})).unwrap();
    assert_eq!(status["state"], "online", "{status}");
    assert_eq!(
        status["own_resources"],
        json!(["alice@localhost/gajim"]),
        "{status}"
    );
}

/// Directed presence needs no subscription, and a hostile server can
/// invent resources without end: the sidecar publishes a stranger's
/// presence but keeps state only for the roster's contacts, and keeps the
/// roster current (someone added later counts).
#[test]
fn a_strangers_presence_from_many_resources_is_published_but_not_kept() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let carol = server.register("carol", "carol-secret");
    let mut stranger = XmppClient::login(&server, &carol, "carol-secret", "main", 0);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("EVENT xmpp.contact_presence bob@localhost/phone available 0");

    const RESOURCES: usize = 20;
    stranger.send(
        json!({"directed_presences": {"to": "alice@localhost/tandem",
        "resources": RESOURCES, "prefix": "r"}}),
    );
    let sent = stranger.wait_for("the directed presences", |e| {
        e["event"] == "directed_presences_sent" || e["event"] == "error"
    });
    assert_eq!(sent["n"], RESOURCES, "{sent}");
    for i in 0..RESOURCES {
        sidecar.wait_for(&format!(
            "EVENT xmpp.contact_presence carol@localhost/r{i} available"
        ));
    }
    let status = sidecar.call("xmpp.status", json!({})).unwrap();
    assert_eq!(status["contacts_online"], 1, "bob's phone only: {status}");

    // Carol becomes a contact (the roster push tells the sidecar): her
    // client's presence, broadcast now, is kept.
    gajim.send(json!({"subscribe": carol}));
    stranger.send(json!({"subscribe": alice}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = sidecar.call("xmpp.status", json!({})).unwrap();
        if status["contacts_online"] == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "carol/main never counted: {status}\n{}",
            sidecar.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sidecar.wait_for("EVENT xmpp.contact_presence carol@localhost/main available");
}

/// Honest presence (issue 23): with none of the user's clients online the
/// sidecar alone must not make the user look available for chat. A
/// contact sees it `xa` "Reachable by phone" then; available (at −1,
/// below the client) while the user's client is online; `xa` again when
/// the client quits. What rules read and set is unchanged.
#[test]
fn alone_the_sidecar_shows_reachable_by_phone_and_steps_back_for_the_users_client() {
    let server = Prosody::start();
    let (alice, gajim, phone) = alice_and_bob(&server);
    drop(gajim);
    phone.wait_for("alice's client gone", |e| {
        e["event"] == "presence"
            && e["from"] == "alice@localhost/gajim"
            && e["type"] == "unavailable"
    });
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    let alone = |e: &serde_json::Value| {
        presence_from("alice@localhost/tandem")(e)
            && e["show"] == "xa"
            && e["status"] == "Reachable by phone"
    };
    phone.wait_for("the sidecar alone", alone);
    assert_eq!(
        sidecar.call("xmpp.presence", json!({})).unwrap(),
        json!({"show": null, "status": null, "priority": -1})
    );

    phone.clear();
    let gajim = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let back = phone.wait_for("the sidecar beside the client", |e| {
        presence_from("alice@localhost/tandem")(e)
            && e["type"] == "available"
            && e["show"].is_null()
    });
    assert_eq!(back["priority"], -1, "{back}");
    assert!(back["status"].is_null(), "{back}");

    phone.clear();
    drop(gajim);
    phone.wait_for("the sidecar alone again", alone);
}
