//! A SIP peer typing, shown in the user's XMPP client: an RFC 3994
//! is-composing `active` MESSAGE in, through the composing plugin and
//! sip-chat.lua, to the bridge contact's XEP-0085 `composing` at the
//! user's client. Against the reference path in the same run: a slixmpp
//! contact sending `composing` through the same Prosody to the same
//! receiving client. Side by side, on one clock (the wall clock).
//!
//! `cargo bench -p tandem-tests --bench sip_typing` (TANDEM_BENCH_N rounds
//! each, default 1000). Tandem: from the bench handing the MESSAGE datagram
//! to the kernel to the receiver's stamp of `composing`. Reference: from
//! the bench writing the command to slixmpp's input (so it includes that
//! pipe and slixmpp building the stanza) to the receiver's stamp. Each
//! round then stops the typing (`idle` / `paused`, not timed), so the next
//! `composing` is news again; the two paths alternate round by round.

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::{json, Value};
use tandem_tests::measure::{env_or, print_side_by_side, sip_message, wall_clock, InProcess};
use tandem_tests::prosody::Prosody;
use tandem_tests::xmpp_client::XmppClient;

const IS_COMPOSING: &str = "application/im-iscomposing+xml";

fn is_composing(state: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\
         <state>{state}</state><refresh>60</refresh></isComposing>"
    )
}

fn main() {
    let n: usize = env_or("TANDEM_BENCH_N", 1000);
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let phone = server.register("alice.phone", "phone-secret");
    let carol = server.register("carol", "carol-secret");
    let receiver = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let mut contact = XmppClient::login(&server, &carol, "carol-secret", "phone", 0);

    // The sidecar in this process: the three plugins, sip-chat.lua and a
    // bridge contact (typing shows only from a contact).
    let tandem = InProcess::with_sip_chat(
        &server,
        &alice,
        &[
            "tandem_plugin_xmpp",
            "tandem_plugin_sip",
            "tandem_plugin_composing",
        ],
        &format!("bridge_jid = {phone:?}\nbridge_password_file = \"bridge-password\""),
        &[("bridge-password", "phone-secret")],
    );
    let port = tandem.sip_port();

    let bob = UdpSocket::bind("127.0.0.1:0").unwrap();
    bob.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let bob_port = bob.local_addr().unwrap().port();
    let mut answer = [0u8; 2048];
    let mut sequence = 0;
    // Bob's is-composing `state`; returns once Tandem answered it 200.
    let mut bob_types = |state: &str| -> f64 {
        sequence += 1;
        let sent = wall_clock();
        let body = is_composing(state);
        bob.send_to(
            &sip_message(sequence, port, bob_port, IS_COMPOSING, &body),
            ("127.0.0.1", port),
        )
        .unwrap();
        let (len, _) = bob.recv_from(&mut answer).unwrap();
        assert!(
            answer[..len].starts_with(b"SIP/2.0 200"),
            "{}",
            String::from_utf8_lossy(&answer[..len])
        );
        sent
    };
    let fast = Duration::from_millis(1);
    let within = Duration::from_secs(20);
    let state_from = |who: &str, state: &str| {
        let (who, state) = (who.to_owned(), state.to_owned());
        move |e: &Value| {
            e["event"] == "chat_state"
                && e["state"] == state.as_str()
                && e["from"].as_str().is_some_and(|f| f.starts_with(&who))
        }
    };
    // A first round, not timed: the bridge contact is online and paired.
    bob_types("active");
    receiver.wait_for_within(
        "the first typing",
        within,
        fast,
        state_from(&phone, "composing"),
    );
    bob_types("idle");
    receiver.wait_for_within(
        "the first pause",
        within,
        fast,
        state_from(&phone, "paused"),
    );
    receiver.clear();

    let (mut tandem_ms, mut reference_ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let sent = bob_types("active");
        let seen =
            receiver.wait_for_within("Bob typing", within, fast, state_from(&phone, "composing"));
        tandem_ms.push((seen["t"].as_f64().unwrap() - sent) * 1e3);
        bob_types("idle");
        receiver.wait_for_within("Bob's pause", within, fast, state_from(&phone, "paused"));

        let sent = wall_clock();
        contact.send(json!({ "chat_state": { "to": alice, "state": "composing" } }));
        let seen = receiver.wait_for_within(
            "Carol typing",
            within,
            fast,
            state_from(&carol, "composing"),
        );
        reference_ms.push((seen["t"].as_f64().unwrap() - sent) * 1e3);
        contact.send(json!({ "chat_state": { "to": alice, "state": "paused" } }));
        receiver.wait_for_within("Carol's pause", within, fast, state_from(&carol, "paused"));
        receiver.clear();
        if i % 100 == 99 {
            eprintln!("{} of {n} rounds", i + 1);
        }
    }
    print_side_by_side(
        &format!("typing shown in the user's client over {n} rounds each (receiver: slixmpp):"),
        (
            "SIP isComposing active → Tandem (composing plugin, sip-chat.lua, bridge contact) → Prosody → client `composing`",
            &mut tandem_ms,
        ),
        ("slixmpp contact `composing` → Prosody → client", &mut reference_ms),
    );
    tandem.shutdown();
}
