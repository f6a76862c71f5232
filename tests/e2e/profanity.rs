//! Profanity (Debian's 0.13), a real user's XMPP client in a terminal, as
//! the user's existing client (issue 23): driven in tmux as a person
//! would, typing and reading the screen, beside `tandem run` with the
//! shipped rules, a call from baresip and a contact (slixmpp) watching.

use serde_json::{json, Value};
use tandem_tests::baresip::Baresip;
use tandem_tests::profanity::Profanity;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::XmppClient;

use super::SIDECAR;

/// The rules a Profanity user runs: the note, chat commands, the ad-hoc
/// commands, "On the phone", the bridge contact's presence. No
/// auto-answer: the user answers.
const RULES: &[&str] = &[
    "notify-calls",
    "sip-chat",
    "call-control",
    "on-the-phone",
    "phone-presence",
];

/// A test Prosody that serves ad-hoc commands itself (`mod_adhoc`, which
/// Debian's default config loads through `admin_adhoc`): Profanity asks
/// the server for `http://jabber.org/protocol/commands` before any `/cmd`
/// and otherwise answers "Server does not support ad hoc commands".
fn prosody_with_adhoc() -> Prosody {
    let mut server = Prosody::start();
    let config = std::fs::read_to_string(server.config()).unwrap();
    let with = config.replacen("\"vcard\" }", "\"vcard\", \"adhoc\" }", 1);
    assert_ne!(config, with, "the test Prosody's modules_enabled changed");
    std::fs::write(server.config(), with).unwrap();
    server.restart();
    server
}

/// alice (the user) and bob (a contact, on his phone, slixmpp) subscribed
/// to each other, set up by a client of alice's that then leaves: her
/// roster is on the server, for Profanity to find. Answers alice's JID
/// and bob's client.
fn alice_and_watching_bob(server: &Prosody) -> (String, XmppClient) {
    let alice = server.register("alice", "alice-secret");
    let bob = server.register("bob", "bob-secret");
    let mut setup = XmppClient::login(server, &alice, "alice-secret", "setup", 0);
    let mut phone = XmppClient::login(server, &bob, "bob-secret", "phone", 0);
    setup.send(json!({"subscribe": bob}));
    phone.send(json!({"subscribe": alice}));
    phone.wait_for("alice's setup client", |e| {
        e["event"] == "presence" && e["from"] == "alice@localhost/setup"
    });
    drop(setup);
    phone.wait_for("alice's setup client gone", |e| {
        e["event"] == "presence"
            && e["from"] == "alice@localhost/setup"
            && e["type"] == "unavailable"
    });
    (alice, phone)
}

/// The sidecar's presence as bob's client sees it, once `pred` holds.
fn sidecar_presence(bob: &XmppClient, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    bob.wait_for(what, |e| {
        e["event"] == "presence" && e["from"] == SIDECAR && pred(e)
    })
}

/// The tag Profanity gave the form field labelled `label` (`field1`):
/// its line reads `[field1] <label> (required):`.
fn field_tag(screen: &str, label: &str) -> String {
    screen
        .lines()
        .find_map(|l| {
            let rest = l.split_once(" - [")?.1;
            let (tag, after) = rest.split_once("] ")?;
            after.starts_with(label).then(|| tag.to_owned())
        })
        .unwrap_or_else(|| panic!("no form field {label:?} on the screen:\n{screen}"))
}

/// Where the notes come from, as Profanity names their sender.
struct Mode {
    /// `bridge_jid` and its password file for `[plugins.xmpp]`, if any.
    xmpp_extra: String,
    /// The sender's name before each note: `Phone/tandem` (the bridge
    /// contact, named by Tandem on the roster) or `me` (the user's own
    /// account).
    sender: &'static str,
    /// Where `/cmd` finds the sidecar's commands.
    commands_at: String,
    /// What the chat window's title says during a call, if anything.
    title_in_call: Option<&'static str>,
}

/// The story a Profanity user lives: the call rings as a message in a
/// chat window of its own (the console says which), `answer` typed there
/// answers it (the caller's call is set up, a contact sees "On the
/// phone"), `hangup` ends it with a note saying so; then the *Call* form,
/// reached with `/cmd exec call`, filled in with Profanity's `/fieldN`
/// and `/form submit`, places a call that baresip takes, and when bob
/// hangs up the chat says so.
fn profanity_story(server: &Prosody, alice: &str, bob: &XmppClient, mode: &Mode) {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        RULES,
        &mode.xmpp_extra,
        "",
    );
    sidecar.wait_online(SIDECAR, 1);
    let sender = mode.sender;

    let prof = Profanity::start(&server.ca());
    prof.connect(alice, "alice-secret", server.port);
    // The sidecar knows the user's client is there (so "On the phone"
    // goes above it), and bob sees the sidecar step back below it.
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/profanity");
    sidecar_presence(bob, "the sidecar below Profanity", |e| {
        e["priority"] == -1 && e["status"].is_null()
    });
    bob.clear();

    // A call rings: the console says a message came, and in which window.
    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let caller = Baresip::start(1000.0, Some(&uri));
    let arrived = format!("<< chat message: {sender} (win ");
    let console = prof.wait_for_text(&arrived);
    let window = console
        .split(&arrived)
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned();
    prof.command(&format!("/win {window}"));
    prof.wait_for_text(&format!("{sender}: Incoming call from sip:bob@127.0.0.1"));
    assert!(
        !sidecar.log().contains("SIP sip.call.answered"),
        "answered before the user said so:\n{}",
        sidecar.log()
    );

    // `answer`, typed in that chat, answers it.
    prof.command("answer");
    prof.wait_for_text(&format!("{sender}: Answered sip:bob@127.0.0.1."));
    sidecar.wait_for("SIP sip.call.answered");
    caller.wait_for("Call established");
    let on_the_phone = sidecar_presence(bob, "On the phone", |e| e["status"] == "On the phone");
    assert_eq!(on_the_phone["show"], "away", "{on_the_phone}");
    // Profanity's own priority is 0: the sidecar goes one above it.
    assert_eq!(on_the_phone["priority"], 1, "{on_the_phone}");
    if let Some(title) = mode.title_in_call {
        prof.wait_for(&format!("the title {title:?}"), |s| {
            s.lines()
                .next()
                .is_some_and(|l| l.trim_start().starts_with(title))
        });
    }

    // `hangup` ends it, and says so, with how long it lasted.
    prof.command("hangup");
    prof.wait_for_text(&format!(
        "{sender}: Hung up the call with sip:bob@127.0.0.1 after "
    ));
    let ended = sidecar.wait_for("SIP sip.call.ended");
    assert!(ended.contains("reason=hangup"), "{ended}");
    sidecar_presence(bob, "the sidecar back below Profanity", |e| {
        e["priority"] == -1 && e["status"].is_null()
    });
    drop(caller);

    // The Call form, through Profanity's /cmd.
    let callee = Baresip::start(1000.0, None);
    let to = format!("sip:bob@127.0.0.1:{}", callee.port);
    prof.command(&format!("/cmd exec call {}", mode.commands_at));
    prof.wait_for_text("Form title: Call");
    let label = "SIP URI, user@host or a contact's JID";
    let form = prof.wait_for(&format!("the field {label:?}"), |s| s.contains(label));
    assert!(!form.contains("(null)"), "{form}");
    let tag = field_tag(&form, label);
    prof.command(&format!("/{tag} {to}"));
    prof.wait_for_text(&format!("{label} (required): {to}"));
    prof.command("/form submit");
    // The answer shows in the console.
    prof.wait_for_text(&format!("Calling {to}."));
    sidecar.wait_for_n("SIP sip.call.answered", 2);
    callee.wait_for("Call established");
    sidecar_presence(bob, "On the phone again", |e| e["status"] == "On the phone");

    // Bob hangs up (baresip's `b`): the chat says so (notify-calls.lua).
    callee.press("b");
    let ended = sidecar.wait_for_n("SIP sip.call.ended", 2);
    assert!(ended.contains("reason=remote_hangup"), "{ended}");
    prof.command(&format!("/win {window}"));
    prof.wait_for_text(&format!("{sender}: Call with {to} ended after "));
    sidecar_presence(bob, "the sidecar back below Profanity again", |e| {
        e["priority"] == -1 && e["status"].is_null()
    });

    // With nothing ringing, `answer` is told why, with no bus command
    // names or error kinds (what Profanity showed once:
    // "calls.answer: rejected: there is no ringing call").
    let said = reply(&prof, "answer");
    let said = said
        .split_once(&format!("{sender}: "))
        .map_or(said.as_str(), |(_, s)| s);
    assert!(
        said.to_lowercase().contains("no")
            && !said.contains("calls.")
            && !said.contains("rejected"),
        "{said}"
    );
}

/// Types `text` in the chat shown and waits for the next message line
/// after it (the answer); answers that line.
fn reply(prof: &Profanity, text: &str) -> String {
    let typed = format!(" - me: {text}");
    let before = prof.screen().matches(&typed).count();
    prof.command(text);
    let answer_after = |screen: &str| {
        let lines: Vec<&str> = screen.lines().collect();
        let mine = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.ends_with(&typed));
        let (at, _) = mine.clone().nth(before)?;
        lines[at + 1..]
            .iter()
            .find(|l| l.get(2..3) == Some(":") && l.contains(" - "))
            .map(|l| l.to_string())
    };
    let screen = prof.wait_for(&format!("an answer to {text:?}"), |s| {
        answer_after(s).is_some()
    });
    answer_after(&screen).unwrap()
}

/// With the bridge contact, as a Profanity user would set it up: the notes
/// come from the contact "Phone", whose presence shows the call too.
#[test]
fn in_profanity_a_call_from_the_phone_contact_is_answered_hung_up_and_placed() {
    let server = prosody_with_adhoc();
    let (alice, bob) = alice_and_watching_bob(&server);
    let bridge = server.register("alice.phone", "phone-secret");
    let secrets = tempfile::tempdir().unwrap();
    let password = secrets.path().join("bridge-password");
    std::fs::write(&password, "phone-secret").unwrap();
    profanity_story(
        &server,
        &alice,
        &bob,
        &Mode {
            xmpp_extra: format!("bridge_jid = {bridge:?}\nbridge_password_file = {password:?}"),
            sender: "Phone/tandem",
            // The sidecar's commands are served on the contact's resource
            // too; Profanity's /cmd in its chat window asks the bare JID,
            // which the server answers (item-not-found).
            commands_at: format!("{bridge}/tandem"),
            // The contact's presence is the phone's (phone-presence.lua).
            title_in_call: Some("Phone [away]"),
        },
    );
}

/// Without a bridge contact the notes come from the user's own account:
/// Profanity shows them as written by "me", in a window titled with the
/// user's own JID, and `answer` typed there still reaches the sidecar.
#[test]
fn in_profanity_a_call_noted_from_the_own_account_is_answered_hung_up_and_placed() {
    let server = prosody_with_adhoc();
    let (alice, bob) = alice_and_watching_bob(&server);
    profanity_story(
        &server,
        &alice,
        &bob,
        &Mode {
            xmpp_extra: String::new(),
            sender: "me",
            commands_at: SIDECAR.to_owned(),
            title_in_call: None,
        },
    );
}
