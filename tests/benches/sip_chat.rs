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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tandem::bus;
use tandem_sdk::Payload;
use tandem_tests::measure::{env_or, percentile};
use tandem_tests::prosody::Prosody;
use tandem_tests::xmpp_client::XmppClient;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One out-of-dialog MESSAGE from Bob at `from_port` to Alice at `port`.
fn message(i: usize, port: u16, from_port: u16, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:alice@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{from_port};branch=z9hG4bK-bench-{i}\r\n\
         From: \"Bob\" <sip:bob@127.0.0.1:{from_port}>;tag=b{i}\r\n\
         To: <sip:alice@127.0.0.1:{port}>\r\n\
         Call-ID: bench-{i}@127.0.0.1\r\n\
         CSeq: 1 MESSAGE\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: text/plain;charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn main() {
    let n: usize = env_or("TANDEM_BENCH_N", 1000);
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let carol = server.register("carol", "carol-secret");
    let receiver = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let mut contact = XmppClient::login(&server, &carol, "carol-secret", "phone", 0);

    // The sidecar in this process: both plugins and the shipped sip-chat rule.
    let dir = tempfile::tempdir().unwrap();
    let plugins = tandem_tests::plugin_folder(&["tandem_plugin_xmpp", "tandem_plugin_sip"]);
    tandem_tests::write(dir.path(), "password", "alice-secret");
    let rule =
        std::fs::read_to_string(tandem_tests::workspace().join("scripts/sip-chat.lua")).unwrap();
    tandem_tests::write(dir.path(), "scripts/sip-chat.lua", &rule);
    let config = tandem_tests::write(
        dir.path(),
        "tandem.toml",
        &format!(
            "[host]\nplugin_dirs = [{:?}]\ndefault_plugin_dirs = false\nscript_dirs = [{:?}]\n[log]\nlevel = \"warn\"\n\
             [plugins.xmpp]\njid = {alice:?}\npassword_file = \"password\"\nhost = \"127.0.0.1\"\nport = {}\nnotes_path = {:?}\n\
             [plugins.sip]\nlisten = \"127.0.0.1:0\"\nuser = \"alice\"\n",
            plugins.path().display().to_string(),
            dir.path().join("scripts").display().to_string(),
            server.port,
            dir.path().join("notes.json").display().to_string(),
        ),
    );
    std::env::set_var("SSL_CERT_FILE", server.ca());
    let daemon = tandem_tests::in_process_daemon(&config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A plugin's status, through the bus.
    let status_of = |command: &str| -> serde_json::Value {
        rt.block_on(bus::call(
            &daemon.bus,
            command,
            Payload::from(json!({})),
            Duration::from_secs(5),
        ))
        .unwrap()
        .decode()
        .unwrap()
    };
    let status = status_of("sip.status");
    let port: u16 = status["listening"][0]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The sidecar must know the receiving client before notes go to it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = status_of("xmpp.status");
        if status["own_resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|j| j == "alice@localhost/gajim"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sidecar never saw the client: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

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
        let sent = now();
        bob.send_to(&message(i, port, bob_port, &text), ("127.0.0.1", port))
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
    for v in [&mut tandem_ms, &mut reference_ms] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    let (t50, t99) = (percentile(&tandem_ms, 0.5), percentile(&tandem_ms, 0.99));
    let (r50, r99) = (
        percentile(&reference_ms, 0.5),
        percentile(&reference_ms, 0.99),
    );
    println!("message latency to the user's client over {n} messages each (receiver: slixmpp):");
    println!("| path | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| SIP MESSAGE → Tandem (sip-chat.lua) → Prosody → client | {t50:.2} ms | {t99:.2} ms |"
    );
    println!("| reference: slixmpp contact → Prosody → client | {r50:.2} ms | {r99:.2} ms |");
    println!(
        "| Tandem's added latency (difference) | {:.2} ms | {:.2} ms |",
        t50 - r50,
        t99 - r99
    );
    println!(
        "| ratio Tandem / reference | {:.2} | {:.2} |",
        t50 / r50,
        t99 / r99
    );
    daemon.shutdown();
}
