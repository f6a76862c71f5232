//! A SIP message to the user's XMPP client (sip-chat.lua), against the
//! reference path: the same text sent by a slixmpp contact through the same
//! Prosody to the same receiving client. Side by side in one run, on one
//! clock (the wall clock: both the bench and slixmpp stamp with it).
//!
//! `cargo bench -p tandem-tests --bench sip_chat` (TANDEM_BENCH_N messages
//! each, default 1000). Tandem: from the bench handing the MESSAGE datagram
//! to the kernel, to the receiving slixmpp client's stamp of the note.
//! Reference: from slixmpp being asked to send (before it builds the
//! stanza) to the receiver's stamp. The two senders alternate message by
//! message, so both see the same machine load. Tandem's "added" latency is
//! its figure minus the reference's: what the sidecar costs over a
//! contact writing directly.

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::json;
use tandem_tests::measure::{env_or, print_side_by_side, sip_message, wall_clock, InProcess};
use tandem_tests::prosody::Prosody;
use tandem_tests::xmpp_client::XmppClient;

fn main() {
    let n: usize = env_or("TANDEM_BENCH_N", 1000);
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let carol = server.register("carol", "carol-secret");
    let receiver = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let mut contact = XmppClient::login(&server, &carol, "carol-secret", "phone", 0);

    // The sidecar in this process: both plugins and the shipped sip-chat rule.
    let tandem = InProcess::with_sip_chat(
        &server,
        &alice,
        &["tandem_plugin_xmpp", "tandem_plugin_sip"],
        "",
        &[],
    );
    let port = tandem.sip_port();
    // The sidecar must know the receiving client before notes go to it.
    tandem.wait_own_resource("alice@localhost/gajim");

    let bob = UdpSocket::bind("127.0.0.1:0").unwrap();
    bob.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let bob_port = bob.local_addr().unwrap().port();
    let fast = Duration::from_millis(1);
    let within = Duration::from_secs(10);
    let (mut tandem_ms, mut reference_ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut answer = [0u8; 2048];
    for i in 0..n {
        let text = format!("t-{i}");
        // The bench is no registrar: the note says so.
        let expected = format!("Bob <sip:bob@127.0.0.1:{bob_port}> (not verified): {text}");
        let sent = wall_clock();
        bob.send_to(
            &sip_message(i, port, bob_port, "text/plain;charset=UTF-8", &text),
            ("127.0.0.1", port),
        )
        .unwrap();
        let seen = receiver.wait_for_within("the relayed message", within, fast, |e| {
            e["event"] == "message" && e["body"] == expected.as_str()
        });
        tandem_ms.push((seen["t"].as_f64().unwrap() - sent) * 1e3);
        let (len, _) = bob.recv_from(&mut answer).unwrap();
        assert!(
            answer[..len].starts_with(b"SIP/2.0 200"),
            "{}",
            String::from_utf8_lossy(&answer[..len])
        );

        let text = format!("s-{i}");
        contact.send(json!({"message": {"to": alice, "body": text, "report": true}}));
        let sent = contact.wait_for_within("slixmpp's send", within, fast, |e| {
            e["event"] == "message_sent" && e["body"] == text.as_str()
        });
        let seen = receiver.wait_for_within("the contact's message", within, fast, |e| {
            e["event"] == "message" && e["body"] == text.as_str()
        });
        reference_ms.push((seen["t"].as_f64().unwrap() - sent["asked"].as_f64().unwrap()) * 1e3);
        if i % 100 == 99 {
            receiver.clear();
            contact.clear();
            eprintln!("{} of {n} messages", i + 1);
        }
    }
    print_side_by_side(
        &format!(
            "message latency to the user's client over {n} messages each (receiver: slixmpp):"
        ),
        (
            "SIP MESSAGE → Tandem (sip-chat.lua) → Prosody → client",
            &mut tandem_ms,
        ),
        ("slixmpp contact → Prosody → client", &mut reference_ms),
    );
    tandem.shutdown();
}
