//! Ad-hoc commands (XEP-0050): listed and run for the owner only, served
//! by rules, sessions that cannot be forged or replayed.

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

#[test]
fn the_owner_lists_and_runs_ad_hoc_commands_and_a_stranger_is_refused() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
    let rule = std::fs::read_to_string(tandem_tests::workspace().join("scripts/on-the-phone.lua"))
        .unwrap();
    tandem_tests::write(sidecar.dir.path(), "scripts/on-the-phone.lua", &rule);
    sidecar.wait_rule_loaded("on-the-phone");

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
    // No file-transfer plugin here: its two commands are not listed.
    assert_eq!(
        nodes,
        ["calls", "presence-rules", "rules", "status"],
        "{list}"
    );
    assert!(
        list["names"]
            .as_array()
            .unwrap()
            .contains(&json!("Show 'On the phone' to contacts")),
        "{list}"
    );

    // Browsing the sidecar (Gajim's Service Discovery) finds the commands.
    gajim.send(json!({"browse": "alice@localhost/tandem"}));
    let browsed = gajim.wait_for("the sidecar's items", |e| {
        e["event"] == "browse" || e["event"] == "iq_error"
    });
    assert_eq!(
        browsed["items"],
        json!([[
            "alice@localhost/tandem",
            "http://jabber.org/protocol/commands",
            "Commands"
        ]]),
        "{browsed}"
    );
    // Gajim lists that item by the node's own name (its disco#info), so
    // the node names itself as a command list, not as the client.
    gajim.send(json!({"disco": {"jid": "alice@localhost/tandem", "node": "http://jabber.org/protocol/commands"}}));
    let info = gajim.wait_for("the commands node's info", |e| {
        e["event"] == "disco" || e["event"] == "iq_error"
    });
    assert_eq!(
        info["identities"],
        json!([["automation", "command-list", "Commands"]]),
        "{info}"
    );

    gajim.send(json!({"adhoc_run": {"jid": "alice@localhost/tandem", "node": "status"}}));
    let status = gajim.wait_for("Status", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    assert_eq!(status["status"], "completed", "{status}");
    let note = status["notes"][0].as_str().unwrap();
    assert!(
        note.contains("xmpp (running)") && note.contains("Show 'On the phone' to contacts (on)"),
        "{note}"
    );

    // The switch shows the rule's state (on), and turns it off.
    gajim.clear();
    gajim.send(
        json!({"adhoc_run": {"jid": "alice@localhost/tandem", "node": "presence-rules",
        "fields": {"on-the-phone": "0"}}}),
    );
    let form = gajim.wait_for("the switch", |e| {
        e["event"] == "adhoc_form" || e["event"] == "iq_error"
    });
    assert_eq!(
        form["shown"],
        json!({"on-the-phone": ["boolean", true]}),
        "{form}"
    );
    let switched = gajim.wait_for("rules off", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    assert_eq!(
        switched["notes"],
        json!(["Show 'On the phone' to contacts: now off."]),
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

    // Someone else: nothing to browse; refused, listing and running
    // alike, and logged.
    phone.send(json!({"browse": "alice@localhost/tandem"}));
    let browsed = phone.wait_for("nothing to browse", |e| {
        e["event"] == "browse" || e["event"] == "iq_error"
    });
    assert_eq!(browsed["items"], json!([]), "{browsed}");
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
fn a_rule_serves_its_own_ad_hoc_command() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
    tandem_tests::write(
        sidecar.dir.path(),
        "scripts/greeter.lua",
        r#"
tandem.provide("greeter.hello", function(args) return { text = "hello " .. args.from } end)
tandem.call("xmpp.register_adhoc", { node = "hello", name = "Say hello", handler = "greeter.hello" })
"#,
    );
    sidecar.wait_rule_loaded("greeter");
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

/// XEP-0050 session ids are correlation tokens, so unforgeable: a
/// continuation is run only for a session the sidecar opened, for the
/// client that opened it, on that node, once.
#[test]
fn ad_hoc_sessions_cannot_be_forged_replayed_or_taken_over() {
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let mut dino = XmppClient::login(&server, &alice, "alice-secret", "dino", 1);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
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
    sidecar.wait_rule_loaded("dialler");
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

/// The plugin knows no rule: the presence switch is the shipped
/// status-commands rule's, and switches whichever rule it is told to,
/// showing its state first; "Rules" shows a switch per rule. And
/// disco#info advertises only what is implemented: no call invites yet.
#[test]
fn the_presence_switch_shows_and_switches_the_configured_rule_and_call_invites_but_no_jingle_are_advertised(
) {
    const SIDECAR: &str = "alice@localhost/tandem";
    let server = Prosody::start();
    let (alice, mut gajim, _phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(
        &server,
        &alice,
        "alice-secret",
        "\n[scripts.status-commands]\npresence_rule = \"quiet-hours\"\n",
    );
    sidecar.wait_online(SIDECAR, 1);
    tandem_tests::write(
        sidecar.dir.path(),
        "scripts/quiet-hours.lua",
        "tandem.on('sip.call.answered', function() end)\n",
    );
    sidecar.wait_rule_loaded("quiet-hours");

    gajim.send(
        json!({"adhoc_run": {"jid": SIDECAR, "node": "presence-rules",
        "fields": {"quiet-hours": "false"}}}),
    );
    let form = gajim.wait_for("the switch", |e| {
        e["event"] == "adhoc_form" || e["event"] == "iq_error"
    });
    assert_eq!(
        form["shown"],
        json!({"quiet-hours": ["boolean", true]}),
        "{form}"
    );
    let switched = gajim.wait_for("rules off", |e| {
        e["event"] == "adhoc_result" || e["event"] == "iq_error"
    });
    assert_eq!(
        switched["notes"],
        json!(["quiet-hours: now off."]),
        "{switched}"
    );
    // "Rules": the same rule shows off now, beside the others.
    gajim.clear();
    gajim.send(json!({"adhoc_run": {"jid": SIDECAR, "node": "rules", "fields": {}}}));
    let form = gajim.wait_for("the rules' switches", |e| {
        e["event"] == "adhoc_form" || e["event"] == "iq_error"
    });
    assert_eq!(
        form["shown"]["quiet-hours"],
        json!(["boolean", false]),
        "{form}"
    );
    assert!(form["shown"].get("status-commands").is_none(), "{form}");
    let rules = sidecar.call("host.status", json!({})).unwrap()["rules"].clone();
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "quiet-hours" && r["enabled"] == false),
        "{rules}"
    );

    gajim.clear();
    gajim.send(json!({"disco": SIDECAR}));
    let info = gajim.wait_for("disco#info", |e| e["event"] == "disco");
    let features = info["features"].as_array().unwrap();
    assert!(
        features.contains(&json!("http://jabber.org/protocol/commands")),
        "{info}"
    );
    // XEP-0482 is implemented now (external ways to join only); Jingle is
    // not, and must never be advertised: Conversations and Dino would try
    // Jingle calls to the sidecar.
    assert!(
        features.contains(&json!("urn:xmpp:call-invites:0")),
        "{info}"
    );
    assert!(
        !features
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.contains("jingle"))),
        "{info}"
    );
}
