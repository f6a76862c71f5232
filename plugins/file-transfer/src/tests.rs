//! The plugin through the SDK's mock host: offers in, commands, and whole
//! transfers against a small real HTTP server on loopback (the mock host
//! stands in for the XMPP plugin only).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_sdk::commands::sip::SendMessage;
use tandem_sdk::serde_json::{json, Value};
use tandem_sdk::testing::MockHost;
use tandem_sdk::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

pub(crate) const CONTENT: &[u8] = b"hello, file\n";
pub(crate) const CONTENT_SHA256: &str =
    "b33f4304b9a6bd81704e55c473a4133a4922f034c1c489cb05428cc1140b042c";

/// An HTTP/1.1 server: GET /hello.txt answers CONTENT, GET /big answers
/// more than offered, GET /private 401, any other GET 404, PUT stores the
/// body and answers 201. One request per connection.
pub(crate) async fn server() -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let put = Arc::new(Mutex::new(Vec::new()));
    let stored = put.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let stored = stored.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // A TLS ClientHello: answered as a plain HTTP server
                    // answers one (nginx does), which fails the handshake.
                    if buf[0] == 0x16 {
                        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                        return;
                    }
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while buf.len() < head_end + length {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let (status, body): (&str, Vec<u8>) = if head.starts_with("put ") {
                    *stored.lock().unwrap() = buf[head_end..].to_vec();
                    ("201 Created", Vec::new())
                } else if head.starts_with("get /hello.txt ") {
                    ("200 OK", CONTENT.to_vec())
                } else if head.starts_with("get /big ") || head.starts_with("get /stream ") {
                    ("200 OK", vec![b'x'; 5000])
                } else if head.starts_with("get /private ") {
                    ("401 Unauthorized", Vec::new())
                } else {
                    ("404 Not Found", Vec::new())
                };
                // /stream: no Content-Length, the body ends when the
                // connection does (what the cap must catch as it streams).
                let answer = if head.starts_with("get /stream ") {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                };
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (base, put)
}

fn rcs(url: &str, name: &str, size: usize) -> Value {
    let body = format!(
        "<?xml version=\"1.0\"?><file xmlns=\"urn:gsma:params:xml:ns:rcs:rcs:fthttp\"><file-info type=\"file\"><file-size>{size}</file-size><file-name>{name}</file-name><content-type>text/plain</content-type><data url=\"{url}\" until=\"2030-01-01T00:00:00Z\"/></file-info></file>"
    );
    json!({"from": "sip:bob@example.org", "to": "sip:alice@example.org", "display_name": "Bob",
           "content_type": "application/vnd.gsma.rcs-ft-http+xml", "body": body, "vouched": true})
}

pub(crate) fn published(host: &MockHost, topic: &str) -> Vec<Value> {
    host.published()
        .into_iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, p)| p)
        .collect()
}

/// Waits (bounded) for `topic`.
pub(crate) async fn wait_for(host: &MockHost, topic: &str) -> Value {
    for _ in 0..500 {
        if let Some(p) = published(host, topic).pop() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {topic}: {:?}", host.published());
}

/// Waits (bounded) for the `file_transfer.failed` of offer `id`.
async fn failure_of(host: &MockHost, id: &Value) -> Value {
    for _ in 0..500 {
        let found = published(host, "file_transfer.failed")
            .into_iter()
            .find(|f| &f["id"] == id);
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no failure for {id}: {:?}", host.published());
}

async fn start(
    host: &MockHost,
    dir: &std::path::Path,
) -> tandem_sdk::testing::TestPlugin<FileTransferPlugin> {
    host.start::<FileTransferPlugin>(json!({"download_dir": dir, "max_size": 4096}))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_file_is_downloaded_uploaded_and_shared() {
    let (base, put) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    let put_url = format!("{base}/upload/slot1/hello.txt");
    let slot = json!({"put_url": put_url, "get_url": format!("{base}/get/hello.txt"), "headers": [["Authorization", "Bearer x"]]});
    host.respond("xmpp.upload_slot", move |_| Ok(slot.clone()));
    host.respond("xmpp.notify_user", |_| Ok(json!({"id": "n9"})));
    let plugin = start(&host, dir.path()).await;

    plugin
        .event(
            "sip.message",
            rcs(
                &format!("{base}/hello.txt"),
                "../../hello.txt",
                CONTENT.len(),
            ),
        )
        .await
        .unwrap();
    let offered = wait_for(&host, "file_transfer.offered").await;
    assert_eq!(offered["name"], "hello.txt");
    assert_eq!(
        (offered["size"].clone(), offered["peer_name"].clone()),
        (json!(12), json!("Bob"))
    );
    let id = offered["id"].as_str().unwrap().to_owned();
    let listed = plugin
        .command("file_transfer.list", json!({}))
        .await
        .unwrap();
    assert_eq!(listed["transfers"][0]["state"], "offered");

    let accepted = plugin
        .command(
            "file_transfer.accept",
            json!({"id": id, "thread": "tandem-sip:sip:bob@example.org"}),
        )
        .await
        .unwrap();
    assert_eq!(accepted["state"], "downloading");
    let done = wait_for(&host, "file_transfer.completed").await;
    assert_eq!(done["sha256"], CONTENT_SHA256);
    assert_eq!(*put.lock().unwrap(), CONTENT);
    assert_eq!(
        std::fs::read(dir.path().join("hello.txt")).unwrap(),
        CONTENT
    );
    let calls = host.calls();
    let slot_call = &calls
        .iter()
        .find(|(n, _)| n == "xmpp.upload_slot")
        .unwrap()
        .1;
    assert_eq!(
        (slot_call["filename"].clone(), slot_call["size"].clone()),
        (json!("hello.txt"), json!(12))
    );
    let note = &calls
        .iter()
        .find(|(n, _)| n == "xmpp.notify_user")
        .unwrap()
        .1;
    assert_eq!(note["file"]["sha256"], CONTENT_SHA256);
    assert_eq!(note["thread"], "tandem-sip:sip:bob@example.org");
    assert_eq!(note["file"]["url"], format!("{base}/get/hello.txt"));
    let err = plugin
        .command("file_transfer.accept", json!({"id": id}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArguments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_said_plainly_and_leave_nothing_behind() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    host.respond("xmpp.upload_slot", |_| {
        Err(CommandError::rejected(
            "hello.txt is 12 bytes; your XMPP server takes files up to 10 bytes",
        ))
    });
    let plugin = start(&host, dir.path()).await;
    let cases = [
        (
            format!("{base}/missing"),
            12,
            "link has expired or the file was removed",
        ),
        (
            format!("{base}/big"),
            100,
            "larger than the 100 bytes offered",
        ),
        (
            format!("{base}/big"),
            10000,
            "larger than 4096 bytes, the most Tandem takes",
        ),
        // Announced within the cap, but more arrives than the cap.
        (
            format!("{base}/big"),
            4096,
            "larger than the 4096 bytes offered",
        ),
        (
            format!("{base}/hello.txt"),
            100,
            "ended after 12 of the 100 bytes offered",
        ),
        (
            format!("{base}/private"),
            12,
            "wants a login to hand out the file (HTTP 401)",
        ),
        // TLS to a server that speaks plain HTTP: the handshake fails.
        (
            base.replace("http://", "https://") + "/hello.txt",
            12,
            "no secure connection to 127.0.0.1: it does not answer in TLS on that port",
        ),
        (
            format!("{base}/hello.txt"),
            12,
            "takes files up to 10 bytes",
        ),
    ];
    // No size announced, none in the answer's head: the cap stops it as
    // the bytes arrive.
    let unsized_offer = json!({"from": "sip:carol@example.org", "to": "sip:alice@example.org",
        "content_type": format!("message/external-body; access-type=URL; URL=\"{base}/stream\""),
        "body": ""});
    let messages = cases
        .into_iter()
        .map(|(url, size, expected)| (rcs(&url, "hello.txt", size), expected))
        .chain([(
            unsized_offer,
            "larger than 4096 bytes, the most Tandem takes",
        )]);
    for (message, expected) in messages {
        plugin.event("sip.message", message.clone()).await.unwrap();
        let offered = published(&host, "file_transfer.offered").pop().unwrap();
        plugin
            .command("file_transfer.accept", json!({"id": offered["id"]}))
            .await
            .unwrap();
        let failed = failure_of(&host, &offered["id"]).await;
        assert!(
            failed["reason"].as_str().unwrap().contains(expected),
            "{message}: {failed}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Only the complete download whose upload was refused is kept.
    assert_eq!(left, ["hello.txt"]);
    assert!(plugin
        .command("file_transfer.list", json!({}))
        .await
        .unwrap()["transfers"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn offers_are_read_rejected_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    let plugin = host
        .start::<FileTransferPlugin>(json!({"download_dir": dir.path(), "max_offers_per_peer": 2}))
        .await
        .unwrap();
    let external = json!({"from": "sip:carol@example.org", "to": "sip:alice@example.org",
        "content_type": "message/external-body; access-type=URL; URL=\"https://x.example/a/pic.png\"; size=99",
        "body": "Content-Type: image/png\r\n\r\n"});
    plugin.event("sip.message", external).await.unwrap();
    let offered = published(&host, "file_transfer.offered").pop().unwrap();
    assert_eq!(
        (offered["name"].clone(), offered["via"].clone()),
        (json!("pic.png"), json!("external-body"))
    );
    assert_eq!(offered["media_type"], "image/png");
    let rejected = plugin
        .command("file_transfer.reject", json!({"id": offered["id"]}))
        .await
        .unwrap();
    assert_eq!(rejected["state"], "rejected");
    let closed = published(&host, "file_transfer.closed").pop().unwrap();
    assert_eq!(closed["reason"], "rejected");
    assert!(host.calls().is_empty(), "nothing fetched, nothing shared");

    // Unreadable: said, not offered.
    let mut junk = rcs("http://x/a", "a", 1);
    junk["body"] = json!("<file><file-info");
    plugin.event("sip.message", junk).await.unwrap();
    let failed = published(&host, "file_transfer.failed").pop().unwrap();
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("not XML Tandem can read"),
        "{failed}"
    );

    for _ in 0..3 {
        plugin
            .event("sip.message", rcs("http://x/a", "a", 1))
            .await
            .unwrap();
    }
    assert_eq!(
        published(&host, "file_transfer.offered").len(),
        3,
        "the third from Bob is dropped"
    );
    // Other content types are not this plugin's.
    plugin
        .event(
            "sip.message",
            json!({"from": "sip:bob@x", "content_type": "text/plain", "body": "hi"}),
        )
        .await
        .unwrap();
    assert_eq!(published(&host, "file_transfer.offered").len(), 3);
    let err = plugin
        .command("file_transfer.reject", json!({"id": "zzzzz"}))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("no file offer `zzzzz`"),
        "{}",
        err.message
    );
}

/// A peer refusing a file offered by MESSAGE reads as a person's no, the
/// same words as a session declined: "declined", not "answered 603
/// Decline".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_declining_an_offer_by_message_is_said_in_words() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    host.respond("sip.send_message", |args| {
        Err(SendMessage::refused(
            args["to"].as_str().unwrap(),
            "603 Decline",
        ))
    });
    let plugin = start(&host, dir.path()).await;
    plugin
        .command(
            "file_transfer.send",
            json!({"to": ["sip:dave@127.0.0.1"], "url": format!("{base}/hello.txt"),
                   "name": "hello.txt", "size": 12, "media_type": "text/plain"}),
        )
        .await
        .unwrap();
    let delivered = wait_for(&host, "file_transfer.delivered").await;
    assert_eq!(
        (&delivered["delivery"], &delivered["reason"]),
        (&json!("failed"), &json!("sip:dave@127.0.0.1 declined"))
    );
}

#[test]
fn the_docs_list_the_command_table() {
    tandem_sdk::testing::assert_commands_agree::<FileTransferPlugin>();
    let doc = include_str!("lib.rs");
    for name in tandem_sdk::manifest_of::<FileTransferPlugin>().commands {
        assert!(doc.contains(&format!("//! - `{name}`")), "{name}");
    }
    for topic in [
        tandem_sdk::events::file_transfer::Offered::TOPIC,
        Failed::TOPIC,
        Closed::TOPIC,
        tandem_sdk::events::file_transfer::Completed::TOPIC,
    ] {
        assert!(doc.contains(&format!("//! - `{topic}`")), "{topic}");
    }
}
