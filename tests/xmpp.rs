//! The XMPP plugin against a real Prosody on loopback, with slixmpp (not
//! Tandem code) as the user's own client and as a contact.

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::{Sidecar, Trust};
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

fn presence_from<'a>(who: &'a str) -> impl Fn(&serde_json::Value) -> bool + 'a {
    move |e| e["event"] == "presence" && e["from"] == who
}

#[test]
fn the_sidecar_sits_beside_the_users_client_and_never_takes_its_messages() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");

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

#[test]
fn disco_is_answered_and_unknown_iqs_get_service_unavailable() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    phone.wait_for("the sidecar", presence_from("alice@localhost/tandem"));

    phone.send(json!({"disco": "alice@localhost/tandem"}));
    let info = phone.wait_for("disco#info", |e| e["event"] == "disco");
    for feature in [
        "urn:xmpp:reach:0",
        "urn:xmpp:reach:0+notify",
        "http://jabber.org/protocol/activity+notify",
        "http://jabber.org/protocol/chatstates",
        "urn:xmpp:call-invites:0",
        "http://jabber.org/protocol/commands",
    ] {
        assert!(
            info["features"]
                .as_array()
                .unwrap()
                .contains(&json!(feature)),
            "{feature}: {info}"
        );
    }
    phone.send(json!({"unknown_iq": "alice@localhost/tandem"}));
    let refused = phone.wait_for("an error", |e| {
        e["event"] == "iq_error" || e["event"] == "iq_result"
    });
    assert_eq!(refused["condition"], "service-unavailable", "{refused}");
    drop(sidecar);
}

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
    sidecar.wait_for("online as alice@localhost/tandem");
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
    sidecar.wait_for_n("online as alice@localhost/tandem", 2);

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

#[test]
fn a_wrong_password_is_a_clear_error_and_no_busy_loop() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let sidecar = Sidecar::start(&server, &alice, "wrong", "");
    sidecar.wait_for("login failed");
    // Backing off, not spinning: over 4 s, a handful of attempts at most.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let log = sidecar.log();
    let attempts = log.matches("login failed").count();
    assert!(attempts <= 4, "{attempts} attempts in 4 s:\n{log}");
    assert!(
        log.contains("authentication") || log.contains("auth"),
        "the reason is named:\n{log}"
    );
    assert!(
        !log.contains("wrong"),
        "the password must not be logged:\n{log}"
    );
    let status = sidecar.call("xmpp.status", json!({})).unwrap();
    assert_eq!(status["state"], "auth_failed", "{status}");
}

#[test]
fn the_owner_lists_and_runs_ad_hoc_commands_and_a_stranger_is_refused() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");
    let rule = std::fs::read_to_string(tandem_tests::workspace().join("scripts/on-the-phone.lua"))
        .unwrap();
    tandem_tests::write(sidecar.dir.path(), "scripts/on-the-phone.lua", &rule);
    sidecar.wait_for("script reloaded");

    gajim.send(json!({"adhoc_list": "alice@localhost/tandem"}));
    let list = gajim.wait_for("the command list", |e| {
        e["event"] == "adhoc_list" || e["event"] == "iq_error"
    });
    let mut nodes: Vec<_> = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["presence-rules", "status"], "{list}");
    assert!(
        list["names"]
            .as_array()
            .unwrap()
            .contains(&json!("Presence rules on/off")),
        "{list}"
    );

    gajim.send(json!({"adhoc_run": {"jid": "alice@localhost/tandem", "node": "status"}}));
    let status = gajim.wait_for("Status", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    assert_eq!(status["status"], "completed", "{status}");
    let note = status["notes"][0].as_str().unwrap();
    assert!(
        note.contains("xmpp (running)") && note.contains("on-the-phone (on)"),
        "{note}"
    );

    gajim.clear();
    gajim.send(json!({"adhoc_run": {"jid": "alice@localhost/tandem", "node": "presence-rules"}}));
    let switched = gajim.wait_for("rules off", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    assert_eq!(
        switched["notes"],
        json!(["Presence rules are now off."]),
        "{switched}"
    );
    let rules = sidecar.call("host.status", json!({})).unwrap()["rules"].clone();
    let off = |rules: &serde_json::Value| {
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "on-the-phone" && r["enabled"] == false)
    };
    assert!(off(&rules), "{rules}");

    // Someone else: refused, listing and running alike, and logged.
    phone.send(json!({"adhoc_list": "alice@localhost/tandem"}));
    let refused = phone.wait_for("a refusal", |e| {
        e["event"] == "iq_error" || e["event"] == "adhoc_list"
    });
    assert_eq!(refused["condition"], "forbidden", "{refused}");
    phone.clear();
    phone.send(json!({"adhoc_run": {"jid": "alice@localhost/tandem", "node": "presence-rules"}}));
    let refused = phone.wait_for("a refusal", |e| {
        e["event"] == "iq_error" || e["event"] == "adhoc_result"
    });
    assert_eq!(refused["condition"], "forbidden", "{refused}");
    sidecar.wait_for("ad-hoc commands refused to bob@localhost/phone");
    let rules = sidecar.call("host.status", json!({})).unwrap()["rules"].clone();
    assert!(off(&rules), "unchanged: {rules}");
}

#[test]
fn activity_published_by_the_sidecar_reaches_contacts_that_want_it() {
    let server = Prosody::start();
    let (alice, _gajim, phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");
    sidecar
        .call(
            "xmpp.set_activity",
            json!({"general": "talking", "specific": "on_the_phone", "text": "On the phone"}),
        )
        .unwrap();
    let seen = phone.wait_for("the activity", |e| {
        e["event"] == "activity" && e["general"] == "talking"
    });
    assert_eq!(
        (&seen["specific"], &seen["text"]),
        (&json!("on_the_phone"), &json!("On the phone")),
        "{seen}"
    );
    sidecar
        .call("xmpp.set_activity", json!({"general": ""}))
        .unwrap();
    phone.wait_for("the activity cleared", |e| {
        e["event"] == "activity" && e["general"].is_null()
    });

    // And the other way: the contact's activity reaches the rules (the
    // sidecar advertises activity+notify in its caps).
    let mut phone = phone;
    phone.send(
        json!({"activity": {"general": "eating", "specific": "having_lunch", "text": "brb"}}),
    );
    sidecar.wait_for("EVENT xmpp.activity bob@localhost offline  nil nil eating/having_lunch");
}

#[test]
fn chat_states_flow_both_ways_only_where_wanted_and_never_twice() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");

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

#[test]
fn a_self_hosted_ca_is_trusted_through_ca_path_and_an_unknown_one_is_refused() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let ca = format!("ca_path = {:?}\n", server.ca().display().to_string());
    let trusted = Sidecar::start_trusting(&server, &alice, "alice-secret", &ca, Trust::Nothing);
    trusted.wait_for("online as alice@localhost/tandem");
    drop(trusted);

    let untrusted = Sidecar::start_trusting(&server, &alice, "alice-secret", "", Trust::Nothing);
    let log = untrusted.wait_for("Failed to connect");
    assert!(
        log.contains("certificate"),
        "the TLS refusal is named:\n{log}"
    );
    assert!(!log.contains("online as"), "{log}");

    let missing = Sidecar::start_trusting(
        &server,
        &alice,
        "alice-secret",
        "ca_path = \"/nonexistent/ca.pem\"\n",
        Trust::Nothing,
    );
    missing.wait_for("ca_path /nonexistent/ca.pem");
}

/// Without reachability addresses, the SIP numbers of a contact's vCard
/// (XEP-0054, as slixmpp publishes it) are where they can be called.
#[test]
fn a_contacts_vcard_sip_number_is_the_fallback_address() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");
    let none = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(none["addresses"], json!([]), "no vCard yet: {none}");
    phone.send(json!({"vcard_tel": ["+44 20 7946 0000", "sip:bob@vcard.example.org"]}));
    phone.wait_for("the vCard stored", |e| e["event"] == "vcard_published");
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        known["addresses"],
        json!([{"uri": "sip:bob@vcard.example.org", "desc": "vCard"}]),
        "{known}"
    );
}

/// XEP-0292: the SIP addresses of a contact's vCard4, in their PEP node,
/// as Gajim keeps the profile; alongside a vcard-temp, both are found,
/// vCard4's first and each address once.
#[test]
fn a_contacts_vcard4_sip_addresses_are_found_too() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");
    phone.send(json!({"vcard4_tel": ["tel:+44-20-7946-0000", "sip:bob@vcard4.example.org"]}));
    phone.wait_for("the vCard4 published", |e| e["event"] == "vcard_published");
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        known["addresses"],
        json!([{"uri": "sip:bob@vcard4.example.org", "desc": "vCard"}]),
        "{known}"
    );
    phone.clear();
    phone.send(json!({"vcard_tel": ["sip:bob@vcard.example.org", "sip:bob@vcard4.example.org"]}));
    phone.wait_for("the vCard stored", |e| e["event"] == "vcard_published");
    let both = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        both["addresses"],
        json!([
            {"uri": "sip:bob@vcard4.example.org", "desc": "vCard"},
            {"uri": "sip:bob@vcard.example.org", "desc": "vCard"}
        ]),
        "{both}"
    );
}

/// XEP-0368: TLS from the first byte, on Prosody's direct TLS port (a
/// STARTTLS client would get nowhere there), trusting the server through
/// the system's roots and through a CA file.
#[test]
fn direct_tls_connects_with_the_system_roots_and_with_a_ca_file() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let direct = format!("direct_tls = true\nport = {}\n", server.direct_tls_port);
    let system = Sidecar::start(&server, &alice, "alice-secret", &direct);
    system.wait_for("online as alice@localhost/tandem");
    drop(system);
    let ca = format!(
        "{direct}ca_path = {:?}\n",
        server.ca().display().to_string()
    );
    let own_ca = Sidecar::start_trusting(&server, &alice, "alice-secret", &ca, Trust::Nothing);
    own_ca.wait_for("online as alice@localhost/tandem");
    drop(own_ca);
    // STARTTLS against the direct TLS port does not get in.
    let wrong = format!("port = {}\n", server.direct_tls_port);
    let starttls = Sidecar::start(&server, &alice, "alice-secret", &wrong);
    let log = starttls.wait_for("Failed to connect");
    assert!(!log.contains("online as"), "{log}");
}

#[test]
fn a_rule_serves_its_own_ad_hoc_command() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");
    tandem_tests::write(
        sidecar.dir.path(),
        "scripts/greeter.lua",
        r#"
tandem.provide("greeter.hello", function(args) return { text = "hello " .. args.from } end)
tandem.call("xmpp.register_adhoc", { node = "hello", name = "Say hello", handler = "greeter.hello" })
"#,
    );
    sidecar.wait_for("script reloaded");
    gajim.send(json!({"adhoc_run": {"jid": "alice@localhost/tandem", "node": "hello"}}));
    let done = gajim.wait_for("the rule's answer", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    assert_eq!(
        done["notes"],
        json!(["hello alice@localhost/gajim"]),
        "{done}"
    );
}

#[test]
fn reachability_addresses_go_both_ways_and_junk_is_refused() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(
        &server,
        &alice,
        "alice-secret",
        "reach = [\"sip:alice@example.org\"]",
    );
    sidecar.wait_for("online as alice@localhost/tandem");
    // The contact's client (slixmpp's own XEP-0152) gets the configured
    // address by PEP, then the one a rule sets.
    phone.wait_for("alice's configured address", |e| {
        e["event"] == "reach" && e["uris"] == json!(["sip:alice@example.org"])
    });
    phone.wait_for("the address in the sidecar's presence", |e| {
        e["event"] == "presence"
            && e["from"] == "alice@localhost/tandem"
            && e["reach"] == json!(["sip:alice@example.org"])
    });
    sidecar
        .call(
            "xmpp.set_reach",
            json!({"addresses": [{"uri": "sip:alice@pbx.example.org", "desc": "Desk phone"}]}),
        )
        .unwrap();
    phone.wait_for("alice's new address", |e| {
        e["event"] == "reach" && e["uris"] == json!(["sip:alice@pbx.example.org"])
    });
    let err = sidecar
        .call(
            "xmpp.set_reach",
            json!({"addresses": [{"uri": "alice@example.org"}]}),
        )
        .unwrap_err();
    assert!(err.contains("is not a URI"), "{err}");

    // The other way: the contact publishes, the sidecar keeps it for
    // `xmpp.reach_of` and tells the rules.
    phone.send(json!({"reach": ["sip:bob@127.0.0.1:5070"]}));
    sidecar.wait_for(
        "EVENT xmpp.reach bob@localhost offline  nil nil nil/nil reach=sip:bob@127.0.0.1:5070",
    );
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost/phone"}))
        .unwrap();
    assert_eq!(
        known["addresses"][0]["uri"], "sip:bob@127.0.0.1:5070",
        "{known}"
    );
    // In presence (XEP-0152 §4.2) too: the event carries them, and they
    // become the ones `xmpp.reach_of` answers.
    phone.send(json!({"presence": {"reach": ["sip:bob@desk.example.org"]}}));
    sidecar.wait_for("reach=sip:bob@desk.example.org");
    let known = sidecar
        .call("xmpp.reach_of", json!({"jid": "bob@localhost"}))
        .unwrap();
    assert_eq!(
        known["addresses"][0]["uri"], "sip:bob@desk.example.org",
        "{known}"
    );
    let none = sidecar
        .call("xmpp.reach_of", json!({"jid": "carol@localhost"}))
        .unwrap();
    assert_eq!(none["addresses"], json!([]), "{none}");
}

/// XEP-0050 session ids are correlation tokens, so unforgeable: a
/// continuation is run only for a session the sidecar opened, for the
/// client that opened it, on that node, once.
#[test]
fn ad_hoc_sessions_cannot_be_forged_replayed_or_taken_over() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let mut dino = XmppClient::login(&server, &alice, "alice-secret", "dino", 1);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_for("online as alice@localhost/tandem");
    tandem_tests::write(
        sidecar.dir.path(),
        "scripts/dialler.lua",
        r#"
tandem.provide("dialler.dial", function(args)
  tandem.log.info("DIALLED " .. args.fields.uri)
  return { text = "dialled " .. args.fields.uri }
end)
tandem.call("xmpp.register_adhoc", { node = "dial", name = "Dial", handler = "dialler.dial",
  fields = { { var = "uri", label = "SIP URI" } } })
"#,
    );
    sidecar.wait_for("script reloaded");
    const SIDECAR: &str = "alice@localhost/tandem";
    let answer = |client: &XmppClient, what: &str| {
        let seen = client.wait_for(what, |e| {
            e["event"] == "adhoc_result" || e["event"] == "iq_error" || e["event"] == "adhoc_form"
        });
        client.clear();
        seen
    };
    let refused_as_bad_session = |seen: &serde_json::Value| {
        assert_eq!(
            (&seen["event"], &seen["condition"], &seen["app"]),
            (
                &json!("iq_error"),
                &json!("bad-request"),
                &json!(["bad-sessionid"])
            ),
            "{seen}"
        );
    };

    // A submission with a made-up sessionid (the old scheme's
    // "{node}-{iq id}" among them) and no execute before it.
    for forged in ["dial-1", "0123456789abcdef0123456789abcdef"] {
        gajim.send(json!({"adhoc_continue": {"jid": SIDECAR, "node": "dial",
            "sessionid": forged, "fields": {"uri": "sip:forged@example.org"}}}));
        refused_as_bad_session(&answer(&gajim, "the forged submission refused"));
    }
    // A one-step command has no session to continue either.
    gajim.send(json!({"adhoc_continue": {"jid": SIDECAR, "node": "status", "sessionid": "x"}}));
    refused_as_bad_session(&answer(&gajim, "a sessionid for a one-step command"));

    // The real thing: the form comes with a random 128-bit id.
    gajim.send(json!({"adhoc_run": {"jid": SIDECAR, "node": "dial"}}));
    let form = gajim.wait_for("the form", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    gajim.clear();
    assert_eq!(form["status"], "executing", "{form}");
    let id = form["sessionid"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    // The owner's other client, or the same session on another node:
    // refused, and the session stays for its owner.
    dino.send(
        json!({"adhoc_continue": {"jid": SIDECAR, "node": "dial", "sessionid": id,
        "fields": {"uri": "sip:dino@example.org"}}}),
    );
    refused_as_bad_session(&answer(&dino, "another client's continuation refused"));
    gajim.send(
        json!({"adhoc_continue": {"jid": SIDECAR, "node": "presence-rules",
        "sessionid": id}}),
    );
    refused_as_bad_session(&answer(&gajim, "the id on another node refused"));
    gajim.send(
        json!({"adhoc_continue": {"jid": SIDECAR, "node": "dial", "sessionid": id,
        "fields": {"uri": "sip:bob@example.org"}}}),
    );
    let done = answer(&gajim, "the submission run");
    assert_eq!(
        (&done["status"], &done["notes"], &done["sessionid"]),
        (
            &json!("completed"),
            &json!(["dialled sip:bob@example.org"]),
            &json!(id)
        ),
        "{done}"
    );
    // Spent: a replay is refused.
    gajim.send(
        json!({"adhoc_continue": {"jid": SIDECAR, "node": "dial", "sessionid": id,
        "fields": {"uri": "sip:again@example.org"}}}),
    );
    refused_as_bad_session(&answer(&gajim, "the replay refused"));

    let log = sidecar.log();
    assert_eq!(log.matches("DIALLED ").count(), 1, "{log}");
    assert!(log.contains("DIALLED sip:bob@example.org"), "{log}");
    assert!(
        log.contains("ad-hoc dial from alice@localhost/dino refused"),
        "{log}"
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
    sidecar.wait_for("online as alice@localhost/tandem");
    gajim.send(json!({"presence": {"show": "dnd", "priority": 5}}));
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim dnd 5");

    // The server goes away, and so does Gajim (slixmpp here does not
    // reconnect): nobody can tell the sidecar while it is down.
    server.stop();
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(gajim);
    server.resume();
    sidecar.wait_for_n("online as alice@localhost/tandem", 2);
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
    sidecar.wait_for("online as alice@localhost/tandem");
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
    sidecar.wait_for_n("online as alice@localhost/tandem", 2);
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
