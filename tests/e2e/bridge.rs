//! The bridge contact (issue 20): a second account of the user's that
//! Tandem logs into, so notes reach the user's client as a contact's
//! messages (shown, alerting) rather than as notes to self.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tandem_tests::ejabberd::{Ejabberd, Options};
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::XmppClient;
use tandem_tests::xmpp_server::XmppServer;

use super::{bob_writes, SIDECAR};

/// The user's roster as their client reads it, until `pred` holds of it
/// (what else the client saw is kept).
fn roster_until(
    client: &mut XmppClient,
    sidecar: &Sidecar,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    for request in 0.. {
        client.send(json!({ "roster": request }));
        let roster = client.wait_for("the roster", |e| {
            e["event"] == "roster" && e["request"] == request
        });
        if pred(&roster["items"]) {
            return roster["items"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what}; roster: {roster}\n{}",
            sidecar.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    unreachable!()
}

/// The user's client is a person's (it approves no subscription by
/// itself). Tandem puts the bridge contact on the user's roster, named,
/// subscribed both ways without the client ever being asked; its presence
/// says the phone is ready; a SIP peer typing and then writing shows as
/// the bridge contact typing and then its message to the user's bare JID;
/// the user typing to it reaches the peer as is-composing, and the
/// user's reply goes to the peer with the receipt from the bridge contact.
/// `pre_approval`: the server implements RFC 6121 §3.4 (Prosody does,
/// ejabberd 23.01 does not: there the user's client sees the bridge
/// contact's one request, which Tandem approves at once).
fn bridge_story(server: &dyn XmppServer, pre_approval: bool) {
    let name = server.name();
    let alice = server.register("alice", "alice-secret");
    let phone = server.register("alice.phone", "phone-secret");
    let mut gajim = XmppClient::login(server, &alice, "alice-secret", "gajim", 5);
    gajim.send(json!({ "manual_subscriptions": true }));
    gajim.wait_for("manual subscriptions", |e| {
        e["event"] == "manual_subscriptions"
    });
    let secrets = tempfile::tempdir().unwrap();
    let password = secrets.path().join("bridge-password");
    std::fs::write(&password, "phone-secret").unwrap();
    let sidecar = Sidecar::start_phone(
        server,
        (&alice, "alice-secret"),
        "alice",
        &["sip-chat", "phone-presence"],
        &format!("bridge_jid = {phone:?}\nbridge_password_file = {password:?}"),
        "",
    );
    sidecar.wait_online(SIDECAR, 1);

    let items = roster_until(
        &mut gajim,
        &sidecar,
        "the bridge contact on both sides",
        |items| items[&phone]["subscription"] == "both",
    );
    assert_eq!(items[&phone]["name"], "Phone", "{name}: {items}");
    let asked: Vec<Value> = gajim
        .seen()
        .into_iter()
        .filter(|e| e["event"] == "presence" && e["type"] == "subscribe")
        .collect();
    let most = if pre_approval { 0 } else { 1 };
    assert!(
        asked.len() <= most,
        "{name}: the user's client was asked: {asked:?}"
    );
    let bridge_from = |e: &Value| e["from"].as_str().is_some_and(|f| f.starts_with(&phone));
    gajim.wait_for("the phone ready", |e| {
        e["event"] == "presence" && bridge_from(e) && e["status"] == "Ready for calls"
    });

    // Carol (sipp) types, then writes: typing, then her message, both from
    // the bridge contact, to the user's bare JID (their server picks the
    // client and keeps it in the archive).
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sf",
            &sipp::scenario_path("typing_then_message.xml"),
            "-m",
            "1",
            &format!("127.0.0.1:{}", sidecar.sip_port()),
        ],
        dir.path(),
    );
    gajim.wait_for("Carol typing", |e| {
        e["event"] == "chat_state" && bridge_from(e) && e["state"] == "composing"
    });
    let note = gajim.wait_for("Carol's message", |e| {
        e["event"] == "message"
            && bridge_from(e)
            && e["body"]
                .as_str()
                .is_some_and(|b| b.ends_with(": done typing"))
    });
    assert_eq!(note["to"], alice, "{note}");
    assert!(
        !gajim
            .seen()
            .iter()
            .any(|e| e["event"] == "message" && e["from"] == SIDECAR),
        "a note came from the sidecar too: {:?}",
        gajim.seen()
    );

    // Bob writes from an address where he then takes two MESSAGEs: the
    // user's typing (is-composing) and the user's answer.
    let peer_port = sipp::free_udp_port().to_string();
    let bob_reads = sipp::Background::start(
        &[
            "-sf",
            &sipp::scenario_path("chat_peer_reads_any.xml"),
            "-m",
            "2",
            "-p",
            &peer_port,
            "-trace_msg",
        ],
        dir.path(),
    );
    bob_writes(&sidecar, &peer_port, dir.path());
    let bob_note = gajim.wait_for("Bob's message", |e| {
        e["event"] == "message"
            && bridge_from(e)
            && e["body"]
                .as_str()
                .is_some_and(|b| b.ends_with(": lunch at 1?"))
    });
    let id = bob_note["id"].as_str().unwrap().to_owned();
    gajim.send(json!({ "chat_state": { "to": phone, "state": "composing" } }));
    gajim.send(json!({ "message": {
        "to": phone, "body": "yes, at 1", "id": "m-1", "receipt": true, "reply_to": id,
    } }));
    gajim.wait_for("the receipt from the bridge contact", |e| {
        e["event"] == "receipt" && e["id"] == "m-1" && bridge_from(e)
    });
    bob_reads.wait_ok(dir.path());
    let heard: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|f| {
            f.file_name()
                .to_string_lossy()
                .starts_with("chat_peer_reads_any")
        })
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect();
    let typing = heard.find("<state>active</state>");
    let answer = heard.find("yes, at 1");
    assert!(
        typing.is_some() && answer.is_some() && typing < answer,
        "Bob heard:\n{heard}"
    );
}

#[test]
fn with_a_bridge_contact_notes_come_from_a_contact_and_typing_shows_both_ways() {
    bridge_story(&Prosody::start(), true);
}

/// The same on ejabberd, whose roster code is its own (and has no
/// pre-approval).
#[test]
fn the_bridge_contact_on_ejabberd() {
    bridge_story(&Ejabberd::start(), false);
}

/// `bridge_register = true`: where the server lets clients create
/// accounts (XEP-0077), Tandem creates the bridge account the first time
/// its login is refused, and it becomes the user's contact as if the user
/// had made it; after a restart it simply logs in. Where the server does
/// not, the user reads once, in plain words, how to create it, and the
/// sidecar itself stays online.
fn created_bridge_story(server: &dyn XmppServer, allowed: bool) {
    let name = server.name();
    let alice = server.register("alice", "alice-secret");
    let phone = "alice.phone@localhost";
    let mut gajim = XmppClient::login(server, &alice, "alice-secret", "gajim", 5);
    let secrets = tempfile::tempdir().unwrap();
    let password = secrets.path().join("bridge-password");
    std::fs::write(&password, "phone-secret").unwrap();
    let mut sidecar = Sidecar::start_phone(
        server,
        (&alice, "alice-secret"),
        "alice",
        &["sip-chat", "phone-presence"],
        &format!(
            "bridge_jid = {phone:?}\nbridge_password_file = {password:?}\nbridge_register = true\n\
             auth_tries = 2\nauth_retry_seconds = 1"
        ),
        "",
    );
    sidecar.wait_online(SIDECAR, 1);
    if !allowed {
        let log = sidecar.wait_for("does not let clients create accounts");
        assert!(
            log.contains(&format!("prosodyctl adduser {phone}")),
            "{name}: {log}"
        );
        assert!(
            !log.contains("phone-secret"),
            "{name}: the password was logged"
        );
        // Refused twice (auth_tries), asked once.
        sidecar.wait_for("Not trying again (login refused 2 time(s))");
        assert_eq!(
            sidecar.log().matches("create accounts").count(),
            1,
            "{name}: asked more than once"
        );
        return;
    }
    sidecar.wait_for(&format!("created the bridge account {phone}"));
    roster_until(
        &mut gajim,
        &sidecar,
        "the created bridge contact",
        |items| items[phone]["subscription"] == "both",
    );
    gajim.wait_for("the phone ready", |e| {
        e["event"] == "presence"
            && e["from"].as_str().is_some_and(|f| f.starts_with(phone))
            && e["status"] == "Ready for calls"
    });
    assert!(
        !sidecar.log().contains("phone-secret"),
        "{name}: the password was logged"
    );

    sidecar.restart();
    sidecar.wait_for_n(&format!("online as {phone}/"), 2);
    let log = sidecar.log();
    assert_eq!(
        log.matches("created the bridge account").count(),
        1,
        "{name}: created twice\n{log}"
    );
    let after = log.split("---- restarted ----").nth(1).unwrap_or_default();
    assert!(!after.contains("login failed"), "{name}: {after}");
}

#[test]
fn tandem_creates_the_bridge_account_where_prosody_allows_it() {
    created_bridge_story(&Prosody::start_with_registration(), true);
}

#[test]
fn tandem_creates_the_bridge_account_where_ejabberd_allows_it() {
    let server = Ejabberd::start_with(Options {
        registration: true,
        ..Options::default()
    });
    created_bridge_story(&server, true);
}

#[test]
fn where_the_server_does_not_allow_it_the_user_is_told_how_to_create_it() {
    created_bridge_story(&Prosody::start(), false);
}
