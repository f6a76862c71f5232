//! linphonec (liblinphone, Debian's `linphone-cli`; see
//! `tandem_tests::linphone`) as the SIP peer: its MESSAGE reaches the
//! user's XMPP client through `sip-chat.lua`, and the user's answers reach
//! linphonec, asserted from what linphonec prints.

use serde_json::json;
use tandem_tests::linphone::Linphonec;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;

const SIDECAR: &str = "alice@localhost/tandem";

/// linphonec writes to the user's SIP address; the note reaches the user's
/// XMPP client (slixmpp); the user answers it with a XEP-0461 reply and
/// with `/msg`, and linphonec prints each text once, with a receipt for
/// each in the client once linphonec said 200.
#[test]
fn linphonec_messages_reach_the_users_client_and_the_users_replies_reach_linphonec() {
    let server = Prosody::start();
    let (_, mut gajim, sidecar) = Sidecar::alice_with_sip_chat(&server);
    // linphonec drops the port of the URI it writes to: it reaches
    // Tandem's port as its outbound proxy.
    let proxy = format!("127.0.0.1:{}", sidecar.sip_port());
    let mut lin = Linphonec::start_at_5060("lin", &proxy);

    let text = "lunch at 1? ça va — ✓";
    lin.send_message("sip:alice@127.0.0.1", text);
    let note = gajim.wait_for("linphonec's message", |e| {
        e["event"] == "message" && e["from"] == SIDECAR
    });
    // linphonec's From has no display name; it is no registrar's: the
    // sender is marked as not vouched for.
    let shown = format!("{} (not verified): {text}", lin.uri);
    assert_eq!(note["body"], shown, "{note}");
    assert_eq!(note["thread"], format!("tandem-sip:{}", lin.uri), "{note}");
    // And linphonec had its 200.
    lin.wait_for_delivered(1);
    let id = note["id"].as_str().expect("the note has an id").to_owned();

    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": "yes, at 1", "id": "r-1", "receipt": true,
        "reply_to": id, "quote": shown,
    } }));
    let line = lin.wait_for_message("yes, at 1");
    assert!(line.contains("from sip:alice@127.0.0.1"), "{line}");
    gajim.wait_for("the receipt of the reply", |e| {
        e["event"] == "receipt" && e["id"] == "r-1" && e["from"] == SIDECAR
    });

    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("/msg {} and bring the slides", lin.uri),
        "id": "r-2", "receipt": true,
    } }));
    lin.wait_for_message("and bring the slides");
    gajim.wait_for("the receipt of the /msg", |e| {
        e["event"] == "receipt" && e["id"] == "r-2" && e["from"] == SIDECAR
    });
    let texts: Vec<String> = lin.received().into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        texts,
        ["yes, at 1", "and bring the slides"],
        "each answer once, the quote not sent:\n{}",
        lin.output()
    );
}
