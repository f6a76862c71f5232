//! XEP-0482 call invites (REQ-1): the user invites a contact to call their
//! SIP address; a contact's invite to a SIP address becomes a note, and
//! `accept` typed in the user's client calls it and tells the contact.

use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::xmpp_client::alice_and_bob;

use super::SIDECAR;

#[test]
fn invites_go_out_with_the_sip_address_and_an_accepted_one_is_called() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start_phone(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &["sip-chat", "call-invites", "call-control"],
        "",
        "",
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    let address = sidecar.call("sip.status", json!({})).unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();

    // The user invites Bob from the chat with Tandem: Bob's client gets a
    // XEP-0482 invite naming the SIP address, with a readable text.
    gajim.send(json!({ "message": { "to": SIDECAR, "body": "invite bob@localhost" } }));
    let invite = phone.wait_for("alice's invite", |e| e["event"] == "call_invite");
    assert_eq!(invite["action"], "invite", "{invite}");
    assert_eq!(invite["uris"], json!([address]), "{invite}");
    assert!(
        invite["body"]
            .as_str()
            .unwrap_or_default()
            .contains(&address),
        "{invite}"
    );
    gajim.wait_for("the confirmation", |e| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"] == format!("Invited bob@localhost to call you at {address}.")
    });

    // Bob invites the user to call him on his SIP phone (baresip): the
    // user's client gets it, and Tandem's note says how to answer.
    let baresip = Baresip::start(1000.0, None);
    let bobs_phone = format!("sip:bob@127.0.0.1:{}", baresip.port);
    phone.send(json!({ "call_invite": {
        "to": alice, "id": "b-1", "uris": ["https://meet.example.org/b", bobs_phone],
        "body": format!("Call me at {bobs_phone}"),
    } }));
    gajim.wait_for("the invite note", |e| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"]
                == format!(
                    "bob@localhost invites you to a call at {bobs_phone}. Reply accept or decline."
                )
    });
    gajim.send(json!({ "message": { "to": SIDECAR, "body": "accept" } }));
    let log = sidecar.wait_for("SIP sip.call.answered");
    let answered = event_line(&log, "sip.call.answered");
    assert_eq!(field(&answered, "peer"), bobs_phone, "{answered}");
    let accepted = phone.wait_for("the accept", |e| {
        e["event"] == "call_invite" && e["action"] == "accept"
    });
    assert_eq!(accepted["id"], "b-1", "{accepted}");
    assert_eq!(accepted["uris"], json!([bobs_phone]), "{accepted}");
}

#[test]
fn the_call_that_answers_an_invite_is_recognised_by_the_inviters_tandem_and_answered() {
    let server = Prosody::start();
    let (alice, mut gajim, mut phone) = alice_and_bob(&server);
    let rules = [
        "share-xmpp-address",
        "sip-chat",
        "call-invites",
        "call-control",
    ];
    let answer = "\n[scripts.call-invites]\nanswer_invited = true\n";
    let alices = Sidecar::start_phone(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &rules,
        "",
        answer,
    );
    // Bob runs Tandem too, beside his client (priority 0, so his sidecar
    // sees what reaches him as Carbons).
    let bobs = Sidecar::start_phone(
        &server,
        ("bob@localhost", "bob-secret"),
        "bob",
        &rules,
        "",
        "",
    );
    alices.wait_online(SIDECAR, 1);
    bobs.wait_online("bob@localhost/tandem", 1);
    alices.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    bobs.wait_for("EVENT xmpp.own_presence bob@localhost/phone available 0");

    // Alice invites Bob; his Tandem tells his client, which accepts.
    gajim.send(json!({ "message": { "to": SIDECAR, "body": "invite bob@localhost" } }));
    let note = phone.wait_for("the invite note from Bob's Tandem", |e| {
        e["event"] == "message"
            && e["from"] == "bob@localhost/tandem"
            && e["body"]
                .as_str()
                .unwrap_or_default()
                .contains("invites you to a call")
    });
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .starts_with("alice@localhost invites you"),
        "{note}"
    );
    phone.send(json!({ "message": { "to": "bob@localhost/tandem", "body": "accept" } }));

    // Alice's Tandem recognises Bob's call as the one she invited: it is
    // announced in the invites' thread and answered.
    let log = alices.wait_for("SIP sip.call.answered");
    assert!(log.contains("impp=xmpp:bob@localhost"), "{log}");
    let told = gajim.wait_for("the announcement", |e| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"] == "bob@localhost is calling you, as you invited: answered."
    });
    assert_eq!(told["thread"], "tandem-invites", "{told}");
    bobs.wait_for("SIP sip.call.answered");
}
