//! Files over MSRP in SIP sessions, through the SDK's mock host standing
//! in for the SIP plugin (its side of the seam is another plugin) and the
//! XMPP one; the other MSRP end is this crate's own sender or receiver on
//! a real loopback connection, and the user's server a small HTTP one.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha1::{Digest, Sha1};
use tandem_sdk::serde_json::{json, Value};
use tandem_sdk::testing::{MockHost, TestPlugin};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::fetched::hex;
use crate::msrp::connection::{Reader, Writer};
use crate::msrp::frame::{ByteRange, Flag, Head, Method};
use crate::msrp::parser::Item;
use crate::msrp::receiver::{receive_file, Incoming};
use crate::msrp::sdp::{Direction, FileStream, Setup};
use crate::msrp::sender::{send_file, Outgoing};
use crate::msrp::uri::MsrpUri;
use crate::tests::{published, server, wait_for, CONTENT, CONTENT_SHA256};
use crate::FileTransferPlugin;

const BOB: &str = "sip:bob@example.org";

/// An RFC 5547 push offer of a file from a peer listening on `port`.
fn offer_sdp(port: u16, selector: &str) -> String {
    format!(
        "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=message {port} TCP/MSRP *\r\na=sendonly\r\na=accept-types:*\r\n\
a=path:msrp://127.0.0.1:{port}/bobsess1;tcp\r\na=setup:actpass\r\n\
a=file-selector:{selector}\r\na=file-transfer-id:xyz123\r\n"
    )
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex(&Sha1::digest(bytes))
}

/// The plugin with a user's server for uploads, and the SIP plugin's
/// `sip.session.answer` noting the answer's SDP.
async fn plugin(
    host: &MockHost,
    dir: &Path,
    config: Value,
) -> (
    TestPlugin<FileTransferPlugin>,
    Arc<Mutex<Vec<u8>>>,
    Arc<Mutex<String>>,
) {
    let (base, put) = server().await;
    let slot = json!({"put_url": format!("{base}/upload/hello.txt"), "get_url": format!("{base}/get/hello.txt")});
    host.respond("xmpp.upload_slot", move |_| Ok(slot.clone()));
    host.respond("xmpp.notify_user", |_| Ok(json!({"id": "n1"})));
    let answer = Arc::new(Mutex::new(String::new()));
    let noted = answer.clone();
    host.respond("sip.session.answer", move |args| {
        *noted.lock().unwrap() = args["sdp"].as_str().unwrap_or("").to_owned();
        Ok(json!({"session": args["session"]}))
    });
    for command in ["sip.session.reject", "sip.session.end"] {
        host.respond(command, |args| Ok(json!({"session": args["session"]})));
    }
    let mut config = config;
    config["download_dir"] = json!(dir);
    let plugin = host.start::<FileTransferPlugin>(config).await.unwrap();
    (plugin, put, answer)
}

async fn take(plugin: &TestPlugin<FileTransferPlugin>, session: &str, sdp: &str) -> Value {
    plugin
        .command(
            "sip.take_session",
            json!({"session": session, "peer": BOB, "display_name": "Bob", "vouched": true,
                   "source": "127.0.0.1:5070", "sdp": sdp}),
        )
        .await
        .unwrap()
}

/// Waits (bounded) until `name` was called; its arguments.
async fn called(host: &MockHost, name: &str) -> Value {
    for _ in 0..500 {
        if let Some((_, args)) = host.calls().into_iter().find(|(n, _)| n == name) {
            return args;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} never called: {:?}", host.calls());
}

/// The peer's side: takes the connection, reads our answer, sends `file`.
async fn peer_sends(
    listener: TcpListener,
    answer: Arc<Mutex<String>>,
    file: std::path::PathBuf,
) -> u64 {
    let port = listener.local_addr().unwrap().port();
    let (tcp, _) = listener.accept().await.unwrap();
    let answer = FileStream::parse(&answer.lock().unwrap()).unwrap();
    let (r, w) = tcp.into_split();
    let (mut r, mut w) = (Reader::new(r), Writer::new(w));
    let (_keep, cancel) = watch::channel(false);
    send_file(
        &mut r,
        &mut w,
        Outgoing {
            local: MsrpUri::tcp("127.0.0.1", port, "bobsess1"),
            to_path: answer.path,
            file: &file,
            media_type: "text/plain".into(),
            chunk_size: 5,
            progress: Arc::new(AtomicU64::new(0)),
            cancel,
            await_bind: true,
        },
    )
    .await
    .unwrap()
}

/// Files in `dir` other than `keep`.
fn left_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "source")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_offered_in_a_session_is_asked_taken_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let file = source.path().join("source");
    std::fs::write(&file, CONTENT).unwrap();
    let host = MockHost::new();
    let (plugin, put, answer) = plugin(&host, dir.path(), json!({})).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // SHA-1 only, as RFC 5547's examples: checked on the whole file.
    let selector = format!(
        "name:\"../hello.txt\" type:text/plain size:12 hash:sha-1:{}",
        sha1_hex(CONTENT)
    );
    let taken = take(&plugin, "s1", &offer_sdp(port, &selector)).await;
    assert_eq!(taken, json!({"refuse": null}));

    // Asked as any offer: same event, nothing that says how it comes.
    let offered = wait_for(&host, "file_transfer.offered").await;
    assert_eq!(
        (&offered["name"], &offered["size"], &offered["media_type"]),
        (&json!("hello.txt"), &json!(12), &json!("text/plain"))
    );
    assert_eq!(
        (&offered["peer_name"], &offered["url"]),
        (&json!("Bob"), &Value::Null)
    );
    assert_eq!(offered["via"], "msrp");
    assert!(
        host.calls().iter().all(|(n, _)| n != "sip.session.answer"),
        "nothing before the answer"
    );

    let peer = tokio::spawn(peer_sends(listener, answer.clone(), file));
    let id = offered["id"].as_str().unwrap();
    plugin
        .command("file_transfer.accept", json!({"id": id}))
        .await
        .unwrap();
    let done = wait_for(&host, "file_transfer.completed").await;
    assert_eq!(done["sha256"], CONTENT_SHA256);
    assert_eq!(*put.lock().unwrap(), CONTENT);
    assert_eq!(peer.await.unwrap(), 12);

    // The answer: receiving, connecting out, the offer's file and id.
    let sdp = answer.lock().unwrap().clone();
    let read = FileStream::parse(&sdp).unwrap();
    assert_eq!(read.direction, Direction::RecvOnly);
    assert_eq!(read.setup, Some(Setup::Active));
    assert_eq!(read.transfer_id.as_deref(), Some("xyz123"));
    assert_eq!(read.selector.size, Some(12));
    assert_eq!(read.path[0].host, "127.0.0.1");
    assert_eq!(called(&host, "sip.session.end").await["session"], "s1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_refused_declined_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    let (plugin, _, _) = plugin(&host, dir.path(), json!({"max_offers_per_peer": 2})).await;
    // Not a file: a call's SDP, an MSRP chat, a file request (recvonly).
    let audio = "v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(take(&plugin, "a", audio).await, json!({"refuse": 488}));
    let chat = offer_sdp(7000, "x").replace("a=file-selector:x\r\n", "");
    assert_eq!(take(&plugin, "b", &chat).await, json!({"refuse": 488}));
    let pull = offer_sdp(7000, "name:\"a.txt\"").replace("a=sendonly", "a=recvonly");
    assert_eq!(take(&plugin, "c", &pull).await, json!({"refuse": 488}));
    assert!(published(&host, "file_transfer.offered").is_empty());

    let file = offer_sdp(7000, "name:\"a.txt\" size:3");
    assert_eq!(take(&plugin, "d", &file).await, json!({"refuse": null}));
    assert_eq!(take(&plugin, "e", &file).await, json!({"refuse": null}));
    // The per-peer bound of HTTP offers holds here too: busy.
    assert_eq!(take(&plugin, "f", &file).await, json!({"refuse": 486}));

    let offered = published(&host, "file_transfer.offered");
    plugin
        .command("file_transfer.reject", json!({"id": offered[0]["id"]}))
        .await
        .unwrap();
    assert_eq!(
        called(&host, "sip.session.reject").await,
        json!({"session": "d", "code": 603})
    );
    // The peer giving up before an answer withdraws its offer.
    plugin
        .event(
            "sip.session.ended",
            json!({"session": "e", "reason": "cancelled"}),
        )
        .await
        .unwrap();
    let failed = wait_for(&host, "file_transfer.failed").await;
    assert_eq!(failed["id"], offered[1]["id"]);
    assert_eq!(failed["reason"], "the sender withdrew the offer");
    let listed = plugin
        .command("file_transfer.list", json!({}))
        .await
        .unwrap();
    assert_eq!(listed["transfers"], json!([]));
}

type Peer = (
    Reader<tokio::net::tcp::OwnedReadHalf>,
    Writer<tokio::net::tcp::OwnedWriteHalf>,
    Head,
);

/// An accepted 5000-byte offer in session `s1` whose peer answered the
/// bind and sent its first 1000 bytes: the peer's connection, and the
/// head of the chunk to send next.
async fn under_way(host: &MockHost, plugin: &TestPlugin<FileTransferPlugin>) -> (String, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    take(plugin, "s1", &offer_sdp(port, "name:\"big.bin\" size:5000")).await;
    let offered = wait_for(host, "file_transfer.offered").await;
    let id = offered["id"].as_str().unwrap().to_owned();
    plugin
        .command("file_transfer.accept", json!({"id": id}))
        .await
        .unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let (r, w) = tcp.into_split();
    let (mut r, mut w) = (Reader::new(r), Writer::new(w));
    let Some(Item::Head(bind)) = r.next().await.unwrap() else {
        panic!("no bind")
    };
    while !matches!(r.next().await.unwrap(), Some(Item::End(_))) {}
    w.frame(&Head::response(&bind, 200, "OK"), &[], Flag::Complete)
        .await
        .unwrap();
    let mut chunk = Head::request(
        "tid00001",
        Method::Send,
        bind.from_path.clone(),
        vec![MsrpUri::tcp("127.0.0.1", port, "bobsess1")],
    );
    chunk.message_id = Some("msg00001".into());
    chunk.byte_range = Some(ByteRange {
        start: 1,
        end: Some(1000),
        total: Some(5000),
    });
    chunk.content_type = Some("application/octet-stream".into());
    w.frame(&chunk, &[7u8; 1000], Flag::More).await.unwrap();
    for _ in 0..500 {
        let listed = plugin
            .command("file_transfer.list", json!({}))
            .await
            .unwrap();
        if listed["transfers"][0]["received"] == 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    chunk.tid = "tid00002".into();
    chunk.byte_range = Some(ByteRange {
        start: 1001,
        end: Some(2000),
        total: Some(5000),
    });
    (id, (r, w, chunk))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_gone_mid_file_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    let (plugin, _, _) = plugin(&host, dir.path(), json!({})).await;
    let (id, _peer) = under_way(&host, &plugin).await;
    assert!(left_in(dir.path()).iter().any(|n| n.ends_with(".part")));
    plugin
        .event(
            "sip.session.ended",
            json!({"session": "s1", "reason": "remote_hangup"}),
        )
        .await
        .unwrap();
    let failed = wait_for(&host, "file_transfer.failed").await;
    assert_eq!(failed["id"], json!(id));
    assert_eq!(
        failed["reason"],
        "the sender stopped the transfer after 1000 bytes"
    );
    assert_eq!(left_in(dir.path()), Vec::<String>::new(), "no part file");
    assert!(host.calls().iter().all(|(n, _)| n != "xmpp.upload_slot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_the_sender_and_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    let (plugin, _, _) = plugin(&host, dir.path(), json!({})).await;
    let (id, (mut r, mut w, next)) = under_way(&host, &plugin).await;
    plugin
        .command("file_transfer.cancel", json!({"id": id}))
        .await
        .unwrap();
    // The next chunk is answered 413 (RFC 4975: stop sending).
    w.frame(&next, &[8u8; 1000], Flag::More).await.unwrap();
    let code = loop {
        match r.next().await.unwrap() {
            Some(Item::Head(head)) if head.tid == "tid00002" => break head.kind,
            Some(_) => continue,
            None => panic!("closed without an answer"),
        }
    };
    assert!(
        matches!(code, crate::msrp::frame::Kind::Response { code: 413, .. }),
        "{code:?}"
    );
    let mut stop = next.clone();
    stop.tid = "tid00003".into();
    w.frame(&stop, &[], Flag::Aborted).await.unwrap();
    assert_eq!(called(&host, "sip.session.end").await["session"], "s1");
    let closed = wait_for(&host, "file_transfer.closed").await;
    assert_eq!(closed["reason"], "cancelled");
    assert!(
        published(&host, "file_transfer.failed").is_empty(),
        "said once"
    );
    assert_eq!(left_in(dir.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_sha1_is_not_the_offered_one_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let file = source.path().join("source");
    std::fs::write(&file, CONTENT).unwrap();
    let host = MockHost::new();
    let (plugin, _, answer) = plugin(&host, dir.path(), json!({})).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let selector = format!(
        "name:\"hello.txt\" size:12 hash:sha-1:{}",
        sha1_hex(b"something else")
    );
    take(&plugin, "s1", &offer_sdp(port, &selector)).await;
    let offered = wait_for(&host, "file_transfer.offered").await;
    let peer = tokio::spawn(peer_sends(listener, answer, file));
    plugin
        .command("file_transfer.accept", json!({"id": offered["id"]}))
        .await
        .unwrap();
    let failed = wait_for(&host, "file_transfer.failed").await;
    assert_eq!(
        failed["reason"],
        "the file's SHA-1 is not the one offered, so it was deleted"
    );
    let _ = peer.await;
    assert_eq!(left_in(dir.path()), Vec::<String>::new());
    assert!(host.calls().iter().all(|(n, _)| n != "xmpp.upload_slot"));
    assert_eq!(called(&host, "sip.session.end").await["session"], "s1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_file_goes_in_a_session_and_a_no_is_said_plainly() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let host = MockHost::new();
    let offers = Arc::new(Mutex::new(Vec::new()));
    let noted = offers.clone();
    let count = AtomicUsize::new(0);
    host.respond("sip.session.offer", move |args| {
        noted.lock().unwrap().push(args.clone());
        Ok(json!({"session": format!("o{}", count.fetch_add(1, Ordering::Relaxed) + 1)}))
    });
    host.respond("sip.session.end", |args| {
        Ok(json!({"session": args["session"]}))
    });
    let plugin = host
        .start::<FileTransferPlugin>(json!({"download_dir": dir.path(), "offer_as": "msrp"}))
        .await
        .unwrap();
    let send = |to: &str| {
        json!({"to": [to], "url": format!("{base}/hello.txt"), "name": "hello.txt",
               "size": 12, "media_type": "text/plain"})
    };
    let sent = plugin
        .command("file_transfer.send", send("sip:bob@127.0.0.1"))
        .await
        .unwrap();
    assert_eq!(sent["recipients"][0]["delivery"], "pending");
    let offer = called(&host, "sip.session.offer").await;
    assert_eq!(offer["to"], "sip:bob@127.0.0.1");
    let stream = FileStream::parse(offer["sdp"].as_str().unwrap()).unwrap();
    assert_eq!(stream.direction, Direction::SendOnly);
    assert_eq!(stream.setup, Some(Setup::ActPass));
    assert_eq!(stream.selector.name.as_deref(), Some("hello.txt"));
    assert_eq!(stream.selector.size, Some(12));
    assert_eq!(stream.selector.sha256(), Some(CONTENT_SHA256));
    assert!(stream
        .selector
        .hashes
        .contains(&("sha-1".to_owned(), sha1_hex(CONTENT))));
    assert!(stream.transfer_id.is_some());

    // Bob's end answers (it connects) and receives.
    let ours = MsrpUri::tcp("127.0.0.1", 9, "bobrcv99");
    let answer = stream.answer(vec![ours.clone()], 9).to_sdp("127.0.0.1", 7);
    plugin
        .event(
            "sip.session.answered",
            json!({"session": "o1", "sdp": answer}),
        )
        .await
        .unwrap();
    let tcp = TcpStream::connect(stream.path[0].socket_address())
        .await
        .unwrap();
    let (r, w) = tcp.into_split();
    let (mut r, mut w) = (Reader::new(r), Writer::new(w));
    let got = tempfile::tempdir().unwrap();
    let part = got.path().join("got");
    let (_keep, cancel) = watch::channel(false);
    let fetched = receive_file(
        &mut r,
        &mut w,
        Incoming {
            local: ours,
            remote: stream.path.clone(),
            part: &part,
            offered: Some(12),
            max_size: 1000,
            sha256: stream.selector.sha256().map(str::to_owned),
            progress: Default::default(),
            cancel,
            bind: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(fetched.sha256, CONTENT_SHA256);
    let delivered = wait_for(&host, "file_transfer.delivered").await;
    assert_eq!(
        (&delivered["delivery"], &delivered["reason"]),
        (&json!("offered"), &Value::Null)
    );
    assert_eq!(called(&host, "sip.session.end").await["session"], "o1");
    assert!(left_in(dir.path()).is_empty(), "the fetched copy is gone");

    // Carol declines: said as a person's no, not as a SIP code.
    plugin
        .command("file_transfer.send", send("sip:carol@127.0.0.1"))
        .await
        .unwrap();
    for _ in 0..500 {
        if offers.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    plugin
        .event(
            "sip.session.ended",
            json!({"session": "o2", "reason": "rejected", "code": 603}),
        )
        .await
        .unwrap();
    for _ in 0..500 {
        if published(&host, "file_transfer.delivered").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let carol = published(&host, "file_transfer.delivered").pop().unwrap();
    assert_eq!(
        (&carol["delivery"], &carol["reason"]),
        (&json!("failed"), &json!("sip:carol@127.0.0.1 declined"))
    );
}
