//! Tandem → Tandem over MSRP inside a call (issue 22, item 3, "session
//! related", decision 0072): Alice's Tandem calls Bob's, which answers
//! (auto-answer); Alice then shares a file with Bob's SIP address, and her
//! Tandem offers it by re-INVITE in that call (the audio as it was, plus
//! an `m=message` stream). Bob is asked as for any file; on `accept` it
//! arrives whole, the stream is ended by port 0, and the call is up at
//! both ends all along. A file Bob leaves unanswered in the call comes
//! again in a session of its own (page mode), where he takes it; one he
//! declines in the call is a plain "declined".

use serde_json::{json, Value};
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;

use super::msrp::{accepted_and_received, alice, bob_with, note, offered_to_bob, BOBS_TANDEM};
use super::{upload_jpeg, SIDECAR};

/// The one call `tandem` has: up.
fn call_up(tandem: &Sidecar) -> Value {
    let calls = tandem.call("sip.calls", json!({})).unwrap();
    let now = calls["now"].as_array().unwrap();
    assert_eq!(now.len(), 1, "{calls}");
    assert_eq!(now[0]["state"], json!("up"), "{calls}");
    now[0].clone()
}

#[test]
fn a_file_goes_inside_a_call_and_the_call_stays_up() {
    let server = Prosody::start();
    let dirs = tempfile::tempdir().unwrap();
    let alice_files = dirs.path().join("alice-files");
    let bob_files = dirs.path().join("bob-files");
    let (mut alice, alice_tandem) = alice(&server, &alice_files, "");
    let (mut dino, bob_tandem) = bob_with(
        &server,
        &bob_files,
        "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n",
        &["auto-answer"],
    );
    let bob_uri = format!("sip:bob@127.0.0.1:{}", bob_tandem.sip_port());

    // The call: Bob's Tandem answers it.
    alice_tandem
        .call("sip.call", json!({ "to": bob_uri }))
        .unwrap();
    alice_tandem.wait_for("SIP sip.call.answered");
    bob_tandem.wait_for("SIP sip.call.answered");
    let alices_call = call_up(&alice_tandem)["call"].clone();
    let bobs_call = call_up(&bob_tandem)["call"].clone();

    // 300 kB, not one byte repeated: many 4 KiB chunks.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let original = dirs.path().join("summit.jpg");
    std::fs::write(&original, &content).unwrap();
    accepted_and_received(&mut alice, &mut dino, &original, &bob_uri, dirs.path());
    let log = alice_tandem.log();
    assert!(
        log.contains(&format!("in call {}", alices_call.as_str().unwrap())),
        "offered inside the call: {log}"
    );
    assert!(
        !log.contains("SIP sip.call.ended"),
        "the call goes on: {log}"
    );
    // The stream ended (port 0) with the transfer; the call did not.
    alice_tandem.wait_for("SIP sip.session.ended");
    bob_tandem.wait_for("ended its stream in call");
    assert_eq!(call_up(&alice_tandem)["call"], alices_call);
    assert_eq!(call_up(&bob_tandem)["call"], bobs_call);
    assert!(!bob_tandem.log().contains("SIP sip.call.ended"));

    // Bob leaves the next one unanswered in the call: after the bound the
    // stream is refused, and Alice's Tandem offers it on its own, where
    // he takes it.
    alice.clear();
    dino.clear();
    let second = dirs.path().join("second.jpg");
    std::fs::write(&second, &content[..60_000]).unwrap();
    let url = upload_jpeg(&mut alice, &second);
    alice.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{bob_uri} {url}"), "oob": url,
    } }));
    // The offer's id and the note asking Bob (other than `except`).
    let asked = |dino: &mut tandem_tests::xmpp_client::XmppClient, except: &str| {
        let except = format!("({except})");
        let asked = dino.wait_for("Bob's Tandem asks him", |e| {
            note(BOBS_TANDEM, " offers second.jpg".into())(e)
                && !e["body"].as_str().unwrap_or("").ends_with(&except)
        });
        let body = asked["body"].as_str().unwrap().to_owned();
        let id = body
            .rsplit('(')
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_owned();
        (id, body)
    };
    // Inside the call the note says so, and how long the offer waits.
    let (first, body) = asked(&mut dino, "-");
    assert!(
        body.contains(", in your call: reply accept or reject within 20 seconds ("),
        "{body}"
    );
    alice_tandem.wait_for("did not take the file inside the call");
    // On its own (page mode) it is any offer again.
    let (id, body) = asked(&mut dino, &first);
    assert!(
        body.contains(": reply accept or reject (") && !body.contains("in your call"),
        "{body}"
    );
    dino.send(json!({ "message": { "to": BOBS_TANDEM, "body": format!("accept {id}") } }));
    alice.wait_for(
        "Alice's note",
        note(SIDECAR, format!("Sent second.jpg to {bob_uri}.")),
    );

    // Declined inside the call: a plain no, not offered again.
    alice.clear();
    dino.clear();
    let third = dirs.path().join("third.jpg");
    std::fs::write(&third, &content[..20_000]).unwrap();
    let id = offered_to_bob(&mut alice, &mut dino, &third, &bob_uri);
    dino.send(json!({ "message": { "to": BOBS_TANDEM, "body": format!("reject {id}") } }));
    alice.wait_for(
        "Alice's note of the decline",
        note(SIDECAR, "could not take third.jpg: they declined".into()),
    );
    assert_eq!(call_up(&alice_tandem)["call"], alices_call);
    assert_eq!(call_up(&bob_tandem)["call"], bobs_call);

    // Nothing of it was a change to the call: no hold, one call each
    // (so "On the phone" and the call list stay as they were).
    for tandem in [&alice_tandem, &bob_tandem] {
        let log = tandem.log();
        assert!(!log.contains("SIP sip.call.held"), "{log}");
        assert_eq!(log.matches("SIP sip.call.answered").count(), 1, "{log}");
        assert!(!log.contains("panicked"), "{log}");
    }

    // Hanging up ends the call at both ends.
    alice_tandem.call("sip.hangup", json!({})).unwrap();
    bob_tandem.wait_for("SIP sip.call.ended");
}
