//! REQ-4, XEP-0379 pre-authenticated roster links: a subscription request
//! carrying a token the user's sidecar gave out is approved without the
//! user (once, by the JID it was bound to); forged, used and misbound
//! tokens are refused and left to the user's clients. Two Tandems trade
//! links: `xmpp.add_contact` with the other's link ends in a mutual
//! subscription nobody was asked about.

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::XmppClient;

fn token_of(uri: &str) -> &str {
    uri.split_once("preauth=").unwrap().1
}

fn sidecar(server: &Prosody, jid: &str, password: &str) -> Sidecar {
    let sidecar = Sidecar::start(server, jid, password, "");
    sidecar.wait_for(&format!("online as {jid}/tandem"));
    sidecar
}

#[test]
fn a_subscription_with_a_token_given_out_is_approved_once_and_only_then() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let carol = server.register("carol", "carol-secret");
    let dave = server.register("dave", "dave-secret");
    let tandem = sidecar(&server, &alice, "alice-secret");
    let link = tandem
        .call("xmpp.preauth_offer", json!({"peer": "sip:carol@127.0.0.1"}))
        .unwrap();
    let uri = link["uri"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with(&format!("xmpp:{alice}?roster;preauth=")),
        "{uri}"
    );
    let token = token_of(&uri).to_owned();
    assert_eq!(token.len(), 32, "{uri}");

    // A stranger guessing: refused, logged, left to the user's clients.
    let mut mallory = XmppClient::login(&server, &dave, "dave-secret", "phone", 0);
    mallory.send(
        json!({"preauth_subscribe": {"to": alice, "token": "0123456789abcdef0123456789abcdef"}}),
    );
    tandem.wait_for(&format!(
        "{dave} asked for presence with a roster link token that does not count (no such token"
    ));

    // Carol with the token she was given: approved, and asked back.
    let mut client = XmppClient::login(&server, &carol, "carol-secret", "phone", 0);
    client.send(json!({"preauth_subscribe": {"to": alice, "token": token}}));
    tandem.wait_for(&format!(
        "{carol} asked for presence with the roster link given to sip:carol@127.0.0.1: approved"
    ));
    client.wait_for("approved", |e| {
        e["event"] == "presence" && e["type"] == "subscribed" && e["from"] == alice
    });

    // The same token again, from someone else: used up. (A fresh account
    // each time: the server passes on one pending request per pair only.)
    let erin = server.register("erin", "erin-secret");
    let mut replay = XmppClient::login(&server, &erin, "erin-secret", "phone", 0);
    replay.send(json!({"preauth_subscribe": {"to": alice, "token": token}}));
    tandem.wait_for(&format!(
        "{erin} asked for presence with a roster link token that does not count (no such token"
    ));

    // Bound to a JID: only that JID may use it, and a try by another spends it.
    let bound = tandem
        .call(
            "xmpp.preauth_offer",
            json!({"peer": "sip:carol@127.0.0.1", "jid": carol}),
        )
        .unwrap();
    let bound = token_of(bound["uri"].as_str().unwrap()).to_owned();
    let frank = server.register("frank", "frank-secret");
    let mut thief = XmppClient::login(&server, &frank, "frank-secret", "phone", 0);
    thief.send(json!({"preauth_subscribe": {"to": alice, "token": bound}}));
    tandem.wait_for(&format!("was given for {carol}, not this account"));
    for stranger in [&mallory, &replay, &thief] {
        let approved = stranger
            .seen()
            .iter()
            .any(|e| e["type"] == "subscribed" && e["from"] == alice);
        assert!(!approved, "a stranger was approved");
    }
}

#[test]
fn two_tandems_trade_links_and_end_up_subscribed_without_asking_anyone() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let bob = server.register("bob", "bob-secret");
    let alice_tandem = sidecar(&server, &alice, "alice-secret");
    let bob_tandem = sidecar(&server, &bob, "bob-secret");
    // Bob's Tandem gave Alice's phone a link during a call; Alice says add.
    let link = bob_tandem
        .call(
            "xmpp.preauth_offer",
            json!({"peer": "sip:alice@127.0.0.1", "jid": alice}),
        )
        .unwrap();
    alice_tandem
        .call("xmpp.add_contact", json!({"jid": link["uri"]}))
        .unwrap();
    bob_tandem.wait_for(&format!(
        "{alice} asked for presence with the roster link given to sip:alice@127.0.0.1: approved"
    ));
    // Each sees the other's presence: both subscriptions stand, and Alice's
    // server approved Bob's request by her Tandem's pre-approval.
    alice_tandem.wait_for(&format!("EVENT xmpp.contact_presence {bob}/tandem"));
    bob_tandem.wait_for(&format!("EVENT xmpp.contact_presence {alice}/tandem"));
}
