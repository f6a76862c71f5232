//! The file-transfer plugin end to end (issue 22, receiving over HTTP): sipp
//! plays a SIP peer (Bob) offering a file the way liblinphone does (a
//! MESSAGE with RCS file-info) that a Python HTTP server hands out; the
//! sidecar runs the SIP, XMPP and file-transfer plugins with sip-chat.lua
//! and accept-files.lua against a real Prosody (which serves XEP-0363
//! uploads); slixmpp is the user's client, which is asked, answers, and
//! gets the file shared, downloads it and checks its SHA-256.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tandem_tests::http;
use tandem_tests::prosody::{free_port, Prosody};
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::XmppClient;

#[path = "file_transfer/msrp.rs"]
mod msrp;
#[path = "file_transfer/msrp_in_call.rs"]
mod msrp_in_call;

const SIDECAR: &str = "alice@localhost/tandem";

/// `python3 -m http.server` on a free loopback port, serving a temp folder.
struct FileServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl FileServer {
    fn start() -> FileServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the HTTP file server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        FileServer { child, port, dir }
    }

    fn put(&self, name: &str, content: &[u8]) -> String {
        std::fs::write(self.dir.path().join(name), content).unwrap();
        self.url(name)
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SHA-256 of `path` as hex and as base64 (XEP-0300's form), by Python's
/// hashlib: an implementation other than the plugin's.
fn sha256(path: &Path) -> (String, String) {
    let out = Command::new("python3")
        .args(["-c", "import hashlib,base64,sys; d=hashlib.sha256(open(sys.argv[1],'rb').read()); print(d.hexdigest(), base64.b64encode(d.digest()).decode())"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (hex, b64) = text.trim().split_once(' ').unwrap();
    (hex.to_owned(), b64.to_owned())
}

/// Bob (sipp) offers `url` named `name`, `size` bytes, from
/// `sip:bob@127.0.0.1:<peer_port>`.
fn bob_offers(sidecar: &Sidecar, url: &str, name: &str, size: usize, peer_port: &str, dir: &Path) {
    sipp::offer_file(sidecar.sip_port(), url, name, size as u64, peer_port, dir);
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn from_sidecar(starts: String) -> impl Fn(&Value) -> bool {
    move |e: &Value| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"].as_str().is_some_and(|b| b.starts_with(&starts))
    }
}

/// Waits for the note offering `name` from `bob`, then accepts it by the
/// id the note ends with ("… (id)"), as a user would type it.
fn accept_by_id(gajim: &mut XmppClient, bob: &str, name: &str, what: &str) {
    let offer = gajim.wait_for(what, from_sidecar(format!("{bob} offers {name}")));
    let body = offer["body"].as_str().unwrap();
    let id = body.rsplit('(').next().unwrap().trim_end_matches(')');
    gajim.send(json!({ "message": { "to": SIDECAR, "body": format!("accept {id}") } }));
}

/// A file Bob offers reaches the user's client once they accept: the offer
/// note in Bob's thread, a XEP-0461 reply "accept", then the shared file
/// (body = URL = OOB, XEP-0447 name, size, SHA-256) which downloads intact
/// from the user's own server; the peer's `../../` name is saved inside the
/// download folder. A link that is gone (404) comes back as a note in
/// plain words, and leaves nothing behind; a file over what the user's
/// server takes is refused a slot with the server's limit said.
#[test]
fn an_offered_file_reaches_the_users_client_after_accept_and_failures_are_said_plainly() {
    let server = Prosody::start();
    let downloads = tempfile::tempdir().unwrap();
    let download_dir: PathBuf = downloads.path().join("files");
    let (mut gajim, sidecar) = sidecar_with_files(
        &server,
        &["sip-chat", "accept-files"],
        &download_config(&download_dir),
    );

    let files = FileServer::start();
    // 200 kB, not all one byte: under the test Prosody's 1 MiB upload limit.
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let url = files.put("holiday.txt", &content);
    let dir = tempfile::tempdir().unwrap();
    let peer_port = sipp::free_udp_port().to_string();
    let bob = format!("Bob <sip:bob@127.0.0.1:{peer_port}> (not verified)");
    bob_offers(
        &sidecar,
        &url,
        "../../holiday.txt",
        content.len(),
        &peer_port,
        dir.path(),
    );

    let offer = gajim.wait_for(
        "the offer note",
        from_sidecar(format!(
            "{bob} offers holiday.txt, 200.0 kB, text/plain: reply accept or reject ("
        )),
    );
    assert_eq!(
        offer["thread"],
        format!("tandem-sip:sip:bob@127.0.0.1:{peer_port}"),
        "{offer}"
    );
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": "accept", "reply_to": offer["id"], "quote": offer["body"],
    } }));
    let shared = gajim.wait_for("the shared file", |e| {
        e["event"] == "message" && e["from"] == SIDECAR && !e["oob"].is_null()
    });
    let get_url = shared["body"].as_str().unwrap().to_owned();
    assert_eq!(shared["oob"], get_url, "{shared}");
    assert_eq!(shared["file"]["name"], "holiday.txt", "{shared}");
    assert_eq!(
        shared["file"]["size"],
        content.len().to_string(),
        "{shared}"
    );
    assert_eq!(shared["file"]["media-type"], "text/plain", "{shared}");
    let (status, got) = http::request("GET", &get_url, &[], b"");
    assert!(status.contains(" 200 "), "{status} {get_url}");
    let fetched = dir.path().join("fetched");
    std::fs::write(&fetched, &got).unwrap();
    let original = files.dir.path().join("holiday.txt");
    let (hex, b64) = sha256(&fetched);
    assert_eq!(
        hex,
        sha256(&original).0,
        "what the user's client downloads is what Bob offered"
    );
    assert_eq!(shared["file"]["hash"], b64, "{shared}");
    gajim.wait_for(
        "the received note",
        from_sidecar("Received holiday.txt (200.0 kB) from ".into()),
    );
    // The answer was accept-files.lua's alone: sip-chat.lua neither sent
    // "accept" to Bob nor took it for a chat command.
    let stray: Vec<Value> = gajim
        .seen()
        .into_iter()
        .filter(|e| e["event"] == "message" && e["from"] == SIDECAR)
        .filter(|e| {
            let body = e["body"].as_str().unwrap_or("");
            body.starts_with("Not ") || body.starts_with("That command")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    // `../../holiday.txt` was saved inside the folder, under its last name.
    assert_eq!(files_in(&download_dir), ["holiday.txt"]);
    assert_eq!(
        std::fs::read(download_dir.join("holiday.txt")).unwrap(),
        content
    );
    assert!(
        files_in(downloads.path()).iter().all(|n| n == "files"),
        "{:?}",
        files_in(downloads.path())
    );

    // A link that is gone: offered, accepted by its id, failed in plain words.
    bob_offers(
        &sidecar,
        &files.url("gone.txt"),
        "gone.txt",
        10,
        &peer_port,
        dir.path(),
    );
    accept_by_id(&mut gajim, &bob, "gone.txt", "the second offer");
    let failed = gajim.wait_for(
        "the failure note",
        from_sidecar("Could not get gone.txt from ".into()),
    );
    assert!(
        failed["body"].as_str().unwrap().ends_with(&format!(
            "the link has expired or the file was removed (127.0.0.1:{} answered HTTP 404)",
            files.port
        )),
        "{failed}"
    );
    assert_eq!(
        files_in(&download_dir),
        ["holiday.txt"],
        "nothing half-written left"
    );

    // Over what the user's server takes (the test Prosody: 1 MiB): fetched,
    // refused an upload slot with the server's limit said, and kept here.
    let big = vec![b'z'; 1_500_000];
    let url = files.put("big.bin", &big);
    bob_offers(&sidecar, &url, "big.bin", big.len(), &peer_port, dir.path());
    accept_by_id(&mut gajim, &bob, "big.bin", "the third offer");
    let failed = gajim.wait_for(
        "the refusal note",
        from_sidecar("Could not get big.bin from ".into()),
    );
    let said = failed["body"].as_str().unwrap();
    assert!(
        said.contains("your XMPP server would not take the file: ")
            && said.contains("takes files up to 1048576 bytes"),
        "{failed}"
    );
    assert_eq!(files_in(&download_dir), ["big.bin", "holiday.txt"]);
}

/// RFC 4483: the URL in the MESSAGE's Content-Type, the name in the body's Content-Disposition; accepted by writing
/// "accept" in Bob's thread; the file reaches the user's client intact.
#[test]
fn an_rfc_4483_offer_is_accepted_in_the_peers_thread() {
    let server = Prosody::start();
    let downloads = tempfile::tempdir().unwrap();
    let (mut gajim, sidecar) = sidecar_with_files(
        &server,
        &["sip-chat", "accept-files"],
        &(download_config(downloads.path()) + "keep_files = false\n"),
    );
    let files = FileServer::start();
    let content = b"milk, eggs, bread\n".repeat(300);
    let url = files.put("list.txt", &content);
    let dir = tempfile::tempdir().unwrap();
    let peer_port = sipp::free_udp_port().to_string();
    sipp::run_ok(
        &[
            "-sf",
            &sipp::scenario_path("file_offer_external_body.xml"),
            "-m",
            "1",
            "-key",
            "url",
            &url,
            "-key",
            "size",
            &content.len().to_string(),
            "-key",
            "peer_port",
            &peer_port,
            &format!("127.0.0.1:{}", sidecar.sip_port()),
        ],
        dir.path(),
    );
    let bob = format!("Bob <sip:bob@127.0.0.1:{peer_port}> (not verified)");
    std::thread::sleep(std::time::Duration::from_secs(2));
    println!("DEBUGLOG {}", sidecar.log());
    let offer = gajim.wait_for(
        "the offer note",
        from_sidecar(format!(
            "{bob} offers notes from bob.txt, 5.4 kB, text/plain: reply accept or reject ("
        )),
    );
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": "accept", "thread": offer["thread"],
    } }));
    let shared = gajim.wait_for("the shared file", |e| {
        e["event"] == "message" && e["from"] == SIDECAR && !e["oob"].is_null()
    });
    assert_eq!(shared["file"]["name"], "notes from bob.txt", "{shared}");
    let (status, got) = http::request("GET", shared["body"].as_str().unwrap(), &[], b"");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(got, content);
    gajim.wait_for(
        "the received note",
        from_sidecar("Received notes from bob.txt (5.4 kB) from ".into()),
    );
    // keep_files = false: nothing stays once the file is on the server.
    assert!(
        files_in(downloads.path()).is_empty(),
        "{:?}",
        files_in(downloads.path())
    );
}

/// The user shares a file with Tandem the way a client does (slixmpp
/// uploads it to the user's own server, XEP-0363, and sends the link as
/// body and OOB) naming two SIP peers: linphonec takes the RCS file-info
/// and downloads the file from the user's server itself (the same bytes,
/// under the name given); a peer that takes no file offers (sipp: 415 to RCS and to RFC 4483)
/// gets the link as text. A note per peer says how it went.
#[test]
fn a_file_the_user_shares_reaches_linphonec_and_a_peer_without_file_transfer_gets_the_link() {
    let server = Prosody::start();
    let (mut gajim, _sidecar, lin) = sharing_with_linphonec(&server, "");
    let dir = tempfile::tempdir().unwrap();
    let carol_port = sipp::free_udp_port().to_string();
    let carol = sipp::Background::start(
        &[
            "-sf",
            &sipp::scenario_path("file_peer_415.xml"),
            "-m",
            "3",
            "-i",
            "127.0.0.1",
            "-p",
            &carol_port,
        ],
        dir.path(),
    );
    let carol_uri = format!("sip:carol@127.0.0.1:{carol_port}");

    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 253) as u8).collect();
    let original = dir.path().join("holiday.jpg");
    std::fs::write(&original, &content).unwrap();
    let url = upload_jpeg(&mut gajim, &original);
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{} {carol_uri} {url}", lin.uri), "oob": url,
    } }));

    gajim.wait_for(
        "the note for linphonec",
        from_sidecar(format!("Sent holiday.jpg to {}.", lin.uri)),
    );
    gajim.wait_for(
        "the note for the peer without file transfer",
        from_sidecar(format!(
            "{carol_uri} does not take files: sent holiday.jpg as a link."
        )),
    );
    carol.wait_ok(dir.path());
    assert_eq!(
        linphonec_saved(&lin, "holiday.jpg", content.len()),
        sha256(&original).0,
        "linphonec saved what the user shared"
    );
}

/// Alice's sidecar with sip-chat and the file-transfer plugin
/// (`plugin_config` its table), her client, and linphonec registered with
/// the sidecar, set to fetch every file offered.
fn sharing_with_linphonec(
    server: &Prosody,
    plugin_config: &str,
) -> (XmppClient, Sidecar, tandem_tests::linphone::Linphonec) {
    let (gajim, sidecar) = sidecar_with_files(server, &["sip-chat"], plugin_config);
    let proxy = format!("127.0.0.1:{}", sidecar.sip_port());
    let lin = tandem_tests::linphone::Linphonec::start_receiving_files("lin", &proxy);
    (gajim, sidecar, lin)
}

/// The user's client uploads `path` to her server (XEP-0363) as a JPEG:
/// the URL it may share.
fn upload_jpeg(gajim: &mut XmppClient, path: &Path) -> String {
    gajim.send(json!({ "upload": {
        "service": format!("upload.{}", tandem_tests::prosody::DOMAIN),
        "path": path.display().to_string(), "content_type": "image/jpeg",
    } }));
    let uploaded = gajim.wait_for("the upload", |e| e["event"] == "uploaded");
    uploaded["url"].as_str().unwrap().to_owned()
}

/// Waits for linphonec to have saved `name` whole (`len` bytes): its
/// SHA-256.
fn linphonec_saved(lin: &tandem_tests::linphone::Linphonec, name: &str, len: usize) -> String {
    let saved = lin.downloads().join(name);
    tandem_tests::wait_for_log("linphonec's download", || match std::fs::metadata(&saved) {
        Ok(m) if m.len() == len as u64 => Ok(String::new()),
        _ => Err(format!(
            "{:?}\n{}",
            files_in(&lin.downloads()),
            lin.output()
        )),
    });
    sha256(&saved).0
}

/// The user's client shares a file with XEP-0447 stateless file sharing
/// (slixmpp writes the stanza as Dino does: XEP-0446 name, size, type and
/// SHA-256, the upload URL as a url-data source, the URL as body): what it
/// said goes with the offer, so linphonec saves the file under the name
/// the client gave (not the upload's), the same bytes.
#[test]
fn a_file_shared_with_xep_0447_reaches_linphonec_under_the_name_the_client_gave() {
    let server = Prosody::start();
    let (mut gajim, _sidecar, lin) = sharing_with_linphonec(&server, "");
    let dir = tempfile::tempdir().unwrap();

    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let original = dir.path().join("IMG_2041.jpg");
    std::fs::write(&original, &content).unwrap();
    let (digest, _) = sha256(&original);
    let url = upload_jpeg(&mut gajim, &original);
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{} {url}", lin.uri),
        "file_sharing": {
            "url": url, "name": "summit.jpg", "size": content.len(),
            "media-type": "image/jpeg", "sha256": digest,
        },
    } }));

    gajim.wait_for(
        "the note for linphonec",
        from_sidecar(format!("Sent summit.jpg to {}.", lin.uri)),
    );
    assert_eq!(
        linphonec_saved(&lin, "summit.jpg", content.len()),
        digest,
        "linphonec saved what the user shared"
    );
}

/// With `offer_as = "external-body"` the user's file goes to linphonec
/// as RFC 4483 content indirection (`message/external-body;
/// access-type=URL`), and linphonec fetches it from the user's server.
#[test]
fn a_file_offered_by_rfc_4483_reaches_linphonec() {
    let server = Prosody::start();
    let (mut gajim, _sidecar, lin) = sharing_with_linphonec(
        &server,
        "\n[plugins.file-transfer]\noffer_as = \"external-body\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..150_000u32).map(|i| (i * 11 % 241) as u8).collect();
    let original = dir.path().join("notes.jpg");
    std::fs::write(&original, &content).unwrap();
    let url = upload_jpeg(&mut gajim, &original);
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{} {url}", lin.uri), "oob": url,
    } }));
    gajim.wait_for(
        "the note for linphonec",
        from_sidecar(format!("Sent notes.jpg to {}.", lin.uri)),
    );
    assert_eq!(
        linphonec_saved(&lin, "notes.jpg", content.len()),
        sha256(&original).0,
        "linphonec saved what the user shared"
    );
    assert!(
        lin.sip_log().contains("message/external-body"),
        "offered by RFC 4483: {}",
        lin.sip_log()
    );
}

/// A peer that never answers holds nobody up: the file goes to linphonec
/// and its note comes while the silent peer (a UDP socket that reads
/// nothing) is still listed as being offered the file by `tandem ctl
/// transfers`; the silent one's note comes when its SIP transaction gives
/// up (RFC 3261 Timer F, 32 s).
#[test]
fn a_peer_that_never_answers_does_not_hold_up_the_others() {
    let server = Prosody::start();
    let (mut gajim, sidecar, lin) = sharing_with_linphonec(&server, "");
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_uri = format!("sip:dave@{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("plan.jpg");
    std::fs::write(&original, vec![7u8; 50_000]).unwrap();
    let url = upload_jpeg(&mut gajim, &original);
    gajim.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{} {silent_uri} {url}", lin.uri), "oob": url,
    } }));

    gajim.wait_for(
        "the note for linphonec",
        from_sidecar(format!("Sent plan.jpg to {}.", lin.uri)),
    );
    let (code, table) = ctl(&sidecar, &["transfers"]);
    assert_eq!(code, Some(0), "{table}");
    let listed: Vec<&str> = table.lines().filter(|l| l.contains("plan.jpg")).collect();
    assert_eq!(
        listed.len(),
        1,
        "only the silent peer is still asked: {table}"
    );
    assert!(
        listed[0].contains(&silent_uri) && listed[0].ends_with("sending"),
        "{table}"
    );
    gajim.wait_for_within(
        "the silent peer's note",
        Duration::from_secs(60),
        Duration::from_millis(200),
        from_sidecar(format!("{silent_uri} could not take plan.jpg")),
    );
    drop(silent);
}

/// `tandem ctl` against the sidecar: exit code and stdout.
fn ctl(sidecar: &Sidecar, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(tandem_tests::tandem_bin())
        .arg("ctl")
        .arg("--config")
        .arg(sidecar.config())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Alice's sidecar with the file-transfer plugin, the rules `scripts` and
/// `plugin_config` (e.g. its `[plugins.file-transfer]` table), once her
/// client (`gajim`) is online and seen by it.
fn sidecar_with_files(
    server: &Prosody,
    scripts: &[&str],
    plugin_config: &str,
) -> (XmppClient, Sidecar) {
    let alice = server.register("alice", "alice-secret");
    let gajim = XmppClient::login(server, &alice, "alice-secret", "gajim", 5);
    let sidecar = Sidecar::start_phone_plugins(
        server,
        (&alice, "alice-secret"),
        "alice",
        scripts,
        "",
        plugin_config,
        &["tandem_plugin_file_transfer"],
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    (gajim, sidecar)
}

/// Downloads go to `dir`.
fn download_config(dir: &Path) -> String {
    format!(
        "\n[plugins.file-transfer]\ndownload_dir = {:?}\n",
        dir.display().to_string()
    )
}

/// A download under way (the server stalls after 300 kB of 1 MB) is
/// listed by `tandem ctl transfers` (a table, and `--json`) and by the chat
/// command `transfers`, with its direction, peer, name, size, progress and
/// state; `cancel ID` in the chat stops it, and no part file is left.
#[test]
fn transfers_are_listed_by_ctl_and_chat_and_cancelled_from_the_chat() {
    let server = Prosody::start();
    let downloads = tempfile::tempdir().unwrap();
    let (mut gajim, sidecar) = sidecar_with_files(
        &server,
        &["sip-chat", "accept-files", "status-commands"],
        &download_config(downloads.path()),
    );
    let files =
        http::FileServer::start(vec![7u8; 1_000_000], http::Serve::Stall { after: 300_000 });
    let dir = tempfile::tempdir().unwrap();
    let peer_port = sipp::free_udp_port().to_string();
    let bob = format!("Bob <sip:bob@127.0.0.1:{peer_port}> (not verified)");
    bob_offers(
        &sidecar,
        &files.url("big.bin"),
        "big.bin",
        1_000_000,
        &peer_port,
        dir.path(),
    );
    accept_by_id(&mut gajim, &bob, "big.bin", "the offer");

    let listed = tandem_tests::wait_for_log("the transfer at 300 kB in ctl --json", || {
        let (code, out) = ctl(&sidecar, &["--json", "transfers"]);
        let list: Value = serde_json::from_str(&out).unwrap_or_default();
        match &list["transfers"][0] {
            // A rate is said once the download has run 100 ms.
            t if t["received"] == 300_000 && t["rate"].is_u64() && code == Some(0) => Ok(out),
            _ => Err(out),
        }
    });
    let list: Value = serde_json::from_str(&listed).unwrap();
    let t = &list["transfers"][0];
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["direction"], "in", "{t}");
    assert_eq!(t["peer"], format!("sip:bob@127.0.0.1:{peer_port}"), "{t}");
    assert_eq!(t["name"], "big.bin", "{t}");
    assert_eq!(t["size"], 1_000_000, "{t}");
    assert_eq!(t["state"], "downloading", "{t}");
    // The rate falls while the server stalls: only that it is said is sure.
    assert!(t["rate"].as_u64().is_some_and(|r| r > 0), "{t}");
    let (code, table) = ctl(&sidecar, &["transfers"]);
    assert_eq!(code, Some(0), "{table}");
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&format!("{id}  in   sip:bob@127.0.0.1:{peer_port}"))
            && row.contains("big.bin")
            && row.contains("1000000      30 % ")
            && row.ends_with(" B/s  downloading"),
        "{table}"
    );

    gajim.send(json!({ "message": { "to": SIDECAR, "body": "transfers" } }));
    let listed = from_sidecar(format!(
        "File transfers (cancel ID stops one):\n  {id} big.bin from sip:bob@127.0.0.1:{peer_port}: 300.0 kB of 1.0 MB (30 %), "
    ));
    gajim.wait_for("the chat's list", |e| {
        listed(e)
            && e["body"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/s, downloading")
    });
    gajim.send(json!({ "message": { "to": SIDECAR, "body": format!("cancel {id}") } }));
    gajim.wait_for(
        "the cancel's answer",
        from_sidecar(format!(
            "Stopped big.bin from sip:bob@127.0.0.1:{peer_port}."
        )),
    );
    let (_, table) = ctl(&sidecar, &["transfers"]);
    assert_eq!(table, "no file transfers\n");
    assert!(
        files_in(downloads.path()).is_empty(),
        "{:?}",
        files_in(downloads.path())
    );
    // Once gone, an id is refused in plain words (exit status 1).
    let (code, _) = ctl(&sidecar, &["cancel-transfer", &id]);
    assert_eq!(code, Some(1));
}

/// A download cut off mid-body (the server closes after 400 kB of 1 MB)
/// is taken up with `Range: bytes=400000-` and the user gets the whole
/// file, intact. Then Tandem stopped mid-download (the server stalls)
/// says at its next start which file was cut off, and leaves nothing
/// half-written.
#[test]
fn a_cut_download_resumes_with_a_range_and_one_cut_by_a_restart_is_reported() {
    let server = Prosody::start();
    let downloads = tempfile::tempdir().unwrap();
    let (mut gajim, mut sidecar) = sidecar_with_files(
        &server,
        &["sip-chat", "accept-files", "status-commands"],
        &download_config(downloads.path()),
    );
    let content: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let dropping =
        http::FileServer::start(content.clone(), http::Serve::DropOnce { after: 400_000 });
    let dir = tempfile::tempdir().unwrap();
    let peer_port = sipp::free_udp_port().to_string();
    let bob = format!("Bob <sip:bob@127.0.0.1:{peer_port}> (not verified)");
    bob_offers(
        &sidecar,
        &dropping.url("cut.bin"),
        "cut.bin",
        content.len(),
        &peer_port,
        dir.path(),
    );
    accept_by_id(&mut gajim, &bob, "cut.bin", "the offer");
    let shared = gajim.wait_for("the shared file", |e| {
        e["event"] == "message" && e["from"] == SIDECAR && !e["oob"].is_null()
    });
    let (status, got) = http::request("GET", shared["body"].as_str().unwrap(), &[], b"");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        got == content,
        "the resumed file differs ({} bytes)",
        got.len()
    );
    let gets: Vec<String> = dropping
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET "))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        gets[1]
            .to_ascii_lowercase()
            .contains("range: bytes=400000-"),
        "{gets:?}"
    );

    let stalling =
        http::FileServer::start(vec![1u8; 1_000_000], http::Serve::Stall { after: 200_000 });
    bob_offers(
        &sidecar,
        &stalling.url("lost.bin"),
        "lost.bin",
        1_000_000,
        &peer_port,
        dir.path(),
    );
    accept_by_id(&mut gajim, &bob, "lost.bin", "the second offer");
    tandem_tests::wait_for_log("the download under way", || {
        let (_, out) = ctl(&sidecar, &["--json", "transfers"]);
        if out.contains("\"received\":200000") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    sidecar.restart();
    sidecar.wait_for("lost.bin from sip:bob@127.0.0.1");
    gajim.wait_for(
        "the note after the restart",
        from_sidecar(format!(
            "Could not get lost.bin from sip:bob@127.0.0.1:{peer_port}: Tandem stopped while the file was being fetched; ask the sender to send it again"
        )),
    );
    assert_eq!(
        files_in(downloads.path()),
        ["cut.bin"],
        "nothing half-written left"
    );
}
