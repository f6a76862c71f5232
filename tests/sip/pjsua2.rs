//! pjsua2 (PJSIP, the PyPI wheel; see `tandem_tests::pjsua2`) as the SIP
//! peer: MESSAGE (RFC 3428) and isComposing (RFC 3994) both ways, asserted
//! from pjsua2's own callbacks (onInstantMessage, onInstantMessageStatus,
//! onTypingIndication).

use serde_json::{json, Value};
use tandem_tests::pjsua2::Pjsua2;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;

const SIDECAR: &str = "alice@localhost/tandem";

fn event(name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == name
}

/// pjsua2 writes to the user's SIP address; the note reaches the user's
/// XMPP client (slixmpp); the user answers it with a XEP-0461 reply and
/// with `/msg`, and pjsua2 gets each text, with a receipt for each in the
/// client once pjsua2 said 200.
#[test]
fn pjsua2_messages_reach_the_users_client_and_the_users_replies_reach_pjsua2() {
    let server = Prosody::start();
    let (_, mut gajim, sidecar) = Sidecar::alice_with_sip_chat(&server);
    let tandem = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    // At 5060 of its own address: PJSIP's From has no port, and a reply
    // goes where the From says.
    let mut pat = Pjsua2::start_at_5060("pat", "Pat", Some(&tandem));
    let from = pat.uri.trim_end_matches(":5060").to_owned();

    let text = "lunch at 1? ça va — ✓";
    pat.send_message(text);
    let status = pat.wait_for("the answer to its MESSAGE", event("im_status"));
    assert_eq!(
        (&status["code"], &status["body"]),
        (&json!(200), &json!(text))
    );
    let note = gajim.wait_for("pat's message", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    // pjsua2 is no registrar's: the sender is marked as not vouched for.
    let shown = format!("Pat <{from}> (not verified): {text}");
    assert_eq!(note["body"], shown, "{note}");
    assert_eq!(note["thread"], format!("tandem-sip:{from}"), "{note}");
    let id = note["id"].as_str().expect("the note has an id").to_owned();

    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": "yes, at 1", "id": "r-1", "receipt": true,
        "reply_to": id, "quote": shown,
    } }));
    let got = pat.wait_for("the reply", event("im"));
    assert_eq!(got["body"], "yes, at 1", "the quote is not sent: {got}");
    assert_eq!(got["content_type"], "text/plain", "{got}");
    assert!(
        got["from"]
            .as_str()
            .unwrap()
            .contains("sip:alice@127.0.0.1"),
        "{got}"
    );
    gajim.wait_for("the receipt of the reply", |e| {
        e["event"] == "receipt" && e["id"] == "r-1" && e["from"] == SIDECAR
    });

    let uri = pat.uri.clone();
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("/msg {uri} and bring the slides"),
        "id": "r-2", "receipt": true,
    } }));
    pat.wait_for("the /msg", |e| {
        e["event"] == "im" && e["body"] == "and bring the slides"
    });
    gajim.wait_for("the receipt of the /msg", |e| {
        e["event"] == "receipt" && e["id"] == "r-2" && e["from"] == SIDECAR
    });
    let ims = pat.seen().iter().filter(|e| e["event"] == "im").count();
    assert_eq!(ims, 2, "each answer once: {:?}", pat.seen());
}

/// pjsua2 types, stops, types again and sends its message: the composing
/// plugin publishes `composing.peer` composing, idle, composing, idle (the
/// message ends typing). Then the user types towards pjsua2 and pauses
/// (`composing.user_typing`): pjsua2's onTypingIndication says typing, then
/// not.
#[test]
fn typing_goes_both_ways_between_pjsua2_and_the_composing_plugin() {
    let tandem = Sidecar::start_sip_plugins(
        "user = \"alice\"",
        &[],
        &[],
        &["tandem_plugin_sip", "tandem_plugin_composing"],
    );
    let to = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let mut pat = Pjsua2::start("pat", "Pat", Some(&to));
    let heard = |state: &str, times: usize| {
        tandem.wait_for_n(
            &format!("TYPING composing.peer peer=sip:pat@127.0.0.1 state={state}"),
            times,
        )
    };
    pat.send_typing(true);
    heard("composing", 1);
    pat.send_typing(false);
    heard("idle", 1);
    pat.send_typing(true);
    heard("composing", 2);
    pat.send_message("here it is");
    let log = heard("idle", 2);
    let states: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TYPING composing.peer "))
        .map(|l| tandem_tests::sidecar::field(l, "state"))
        .collect();
    assert_eq!(states, ["composing", "idle", "composing", "idle"], "{log}");
    let status = pat.wait_for("the answer to its MESSAGE", event("im_status"));
    assert_eq!(status["code"], 200, "{status}");

    let typing = |state: &str| {
        tandem
            .call(
                "composing.user_typing",
                json!({ "to": pat.uri, "state": state }),
            )
            .unwrap()
    };
    let answer = typing("composing");
    assert_eq!(answer["sent"], "active", "{answer}");
    let seen = pat.wait_for("the user typing", event("typing"));
    assert_eq!(seen["is_typing"], true, "{seen}");
    assert!(
        seen["from"]
            .as_str()
            .unwrap()
            .contains("sip:alice@127.0.0.1"),
        "{seen}"
    );
    let answer = typing("paused");
    assert_eq!(answer["sent"], "idle", "{answer}");
    pat.wait_for("the user stopping", |e| {
        e["event"] == "typing" && e["is_typing"] == false
    });
    let indications: Vec<Value> = pat
        .seen()
        .iter()
        .filter(|e| e["event"] == "typing")
        .map(|e| e["is_typing"].clone())
        .collect();
    assert_eq!(indications, [json!(true), json!(false)]);
}
