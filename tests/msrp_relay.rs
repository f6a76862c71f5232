//! MSRP through a relay (RFC 4976, issue 22 item 3): the file-transfer
//! plugin's MSRP endpoints send a file of a few MB through Kamailio's
//! `msrp` module — the sender behind the relay and the receiver direct,
//! then each behind a relay of its own — and the file arrives whole (SHA-256), the sender
//! gets the success REPORT, and a wrong password is refused in plain words.
//! The same over TLS (`msrps://`, RFC 4976's way to a relay), the relay's
//! certificate trusted as a user trusts a private CA (`SSL_CERT_FILE`);
//! a relay whose certificate the machine does not trust is refused, said
//! plainly.
//!
//! The two ends are the plugin's own `msrp` modules run in this process
//! (as its session tests run them): what the SIP side would carry in SDP
//! (`a=path`) is handed across directly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tandem_plugin_file_transfer::msrp::connection::{Reader, Writer};
use tandem_plugin_file_transfer::msrp::receiver::{receive_file, Incoming};
use tandem_plugin_file_transfer::msrp::relay::{self, Binding, Password, Relay, RelayError};
use tandem_plugin_file_transfer::msrp::sender::{send_file, Outgoing};
use tandem_plugin_file_transfer::msrp::uri::MsrpUri;
use tandem_plugin_file_transfer::msrp::DEFAULT_CHUNK_SIZE;
use tandem_tests::kamailio_msrp::MsrpRelay;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const PASSWORD: &str = "relay-secret-7";

fn relay_config(relay: &MsrpRelay, user: &str, password: &str) -> Relay {
    Relay {
        uri: MsrpUri::parse(&relay.uri()).unwrap(),
        user: user.into(),
        password: Password(password.into()),
    }
}

/// A file of `size` bytes that is not a repetition of a short pattern,
/// and its SHA-256.
fn file_of(dir: &Path, size: usize) -> (PathBuf, String) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let path = dir.join("holiday.bin");
    std::fs::write(&path, &bytes).unwrap();
    (path, sha256_hex(&bytes))
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The sending end: logged in at the relay, or listening for the
/// receiver (the offerer's `a=setup:actpass` without a relay).
enum Sender {
    Relayed(Box<Binding>),
    Listening(TcpListener),
}

/// How the receiving end reaches the sender.
enum End {
    /// Logged in at the relay: the session runs on that connection.
    Relayed(Box<Binding>),
    /// No relay: the receiver connects to the first hop of the sender's
    /// path itself.
    Direct,
}

struct Outcome {
    sent: Result<u64, String>,
    acknowledged: u64,
    received: Result<(u64, String), String>,
    part: PathBuf,
}

/// Sends `file` from `sender` to `receiver`. The receiver is the active
/// side (RFC 6135's default for an answerer): it binds the session with
/// an empty SEND, which a relay forwards down the sender's connection.
async fn transfer(file: &Path, size: u64, sender: Sender, receiver: End) -> Outcome {
    let part = file.with_file_name(".holiday.part");
    let (sender_path, tx_use_path) = match &sender {
        Sender::Relayed(binding) => (binding.path(), binding.use_path.clone()),
        Sender::Listening(listener) => {
            let port = listener.local_addr().unwrap().port();
            (
                vec![MsrpUri::tcp("127.0.0.1", port, "sndrdirect")],
                Vec::new(),
            )
        }
    };
    let progress = Arc::new(AtomicU64::new(0));
    let (_keep_sender, sender_cancel) = watch::channel(false);
    let (_keep_receiver, receiver_cancel) = watch::channel(false);

    // The receiver's end: its connection, its URI, the To-Path of its
    // requests, and its path as its SDP would give it.
    let (mut rx_reader, mut rx_writer, rx_local, rx_to_sender, rx_path) = match receiver {
        End::Relayed(binding) => {
            let binding = *binding;
            let to_sender = binding.to_path(&sender_path);
            let path = binding.path();
            let Binding {
                reader,
                writer,
                local,
                ..
            } = binding;
            (
                EndReader::Relayed(reader),
                EndWriter::Relayed(writer),
                local,
                to_sender,
                path,
            )
        }
        End::Direct => {
            // The first hop is the sender's relay; our URI names the
            // connection's own address, so the relay finds it again.
            let first = &sender_path[0];
            let stream = TcpStream::connect(first.socket_address()).await.unwrap();
            let local = stream.local_addr().unwrap();
            let uri = MsrpUri::tcp(&local.ip().to_string(), local.port(), "rcvdirect1");
            let (r, w) = stream.into_split();
            (
                EndReader::Direct(Reader::new(r)),
                EndWriter::Direct(Writer::new(w)),
                uri.clone(),
                sender_path.clone(),
                vec![uri],
            )
        }
    };

    let mut tx_to = tx_use_path;
    tx_to.extend(rx_path);
    let tx_local = sender_path.last().unwrap().clone();
    let send = {
        let progress = progress.clone();
        async move {
            let out = Outgoing {
                local: tx_local,
                to_path: tx_to,
                file,
                media_type: "application/octet-stream".into(),
                chunk_size: DEFAULT_CHUNK_SIZE,
                progress,
                cancel: sender_cancel,
                await_bind: true,
            };
            let sent = match sender {
                Sender::Relayed(binding) => {
                    let mut binding = *binding;
                    send_file(&mut binding.reader, &mut binding.writer, out).await
                }
                Sender::Listening(listener) => {
                    let (stream, _) = listener.accept().await.unwrap();
                    let (r, w) = stream.into_split();
                    send_file(&mut Reader::new(r), &mut Writer::new(w), out).await
                }
            };
            sent.map_err(|e| e.to_string())
        }
    };
    let receive = {
        let part = part.clone();
        async move {
            let inc = |progress| Incoming {
                local: rx_local,
                remote: rx_to_sender,
                part: &part,
                offered: Some(size),
                max_size: u64::MAX,
                sha256: None,
                progress,
                cancel: receiver_cancel,
                bind: true,
            };
            let got = Arc::new(AtomicU64::new(0));
            let result = match (&mut rx_reader, &mut rx_writer) {
                (EndReader::Relayed(r), EndWriter::Relayed(w)) => {
                    receive_file(r, w, inc(got)).await
                }
                (EndReader::Direct(r), EndWriter::Direct(w)) => receive_file(r, w, inc(got)).await,
                _ => unreachable!(),
            };
            result
                .map(|f| (f.size, f.sha256))
                .map_err(|e| e.to_string())
        }
    };
    let limit = std::time::Duration::from_secs(120);
    let (sent, received) = tokio::time::timeout(limit, async { tokio::join!(send, receive) })
        .await
        .expect("the transfer through the relay did not end in 120 s");
    Outcome {
        sent,
        acknowledged: progress.load(Ordering::Relaxed),
        received,
        part,
    }
}

enum EndReader {
    Relayed(relay::RelayReader),
    Direct(Reader<tokio::net::tcp::OwnedReadHalf>),
}

enum EndWriter {
    Relayed(relay::RelayWriter),
    Direct(Writer<tokio::net::tcp::OwnedWriteHalf>),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `file` from Alice behind `relays.0` to Bob behind `relays.1`,
/// each logged in with `tls` (for `msrps://` relays).
async fn each_behind_one(
    file: &Path,
    size: u64,
    (alices, bobs): (&MsrpRelay, &MsrpRelay),
    tls: Option<Arc<relay::TlsConfig>>,
) -> Outcome {
    let sender = relay::bind(&relay_config(alices, "alice", PASSWORD), tls.clone())
        .await
        .unwrap();
    let receiver = relay::bind(&relay_config(bobs, "bob", PASSWORD), tls)
        .await
        .unwrap();
    assert_ne!(sender.use_path, receiver.use_path);
    // A TLS relay names itself msrps://, and we name ourselves so too.
    let secure = alices.secure;
    for binding in [&sender, &receiver] {
        let path = binding.path();
        assert!(path.iter().all(|uri| uri.secure == secure), "{path:?}");
    }
    transfer(
        file,
        size,
        Sender::Relayed(Box::new(sender)),
        End::Relayed(Box::new(receiver)),
    )
    .await
}

fn assert_arrived(out: &Outcome, size: u64, sha: &str, relays: &[&MsrpRelay]) {
    let log = || relays.iter().map(|r| r.log()).collect::<String>();
    assert_eq!(out.sent, Ok(size), "sender; relay log:\n{}", log());
    // The success REPORT covered the whole file.
    assert_eq!(out.acknowledged, size);
    assert_eq!(
        out.received.as_ref().map(|(s, h)| (*s, h.as_str())),
        Ok((size, sha)),
        "receiver; relay log:\n{}",
        log()
    );
    let written = std::fs::read(&out.part).unwrap();
    assert_eq!(sha256_hex(&written), sha);
}

#[test]
fn a_file_goes_through_kamailio_with_one_end_or_both_behind_it() {
    let kamailio = MsrpRelay::start(PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let size = 3_000_017u64;
    let (file, sha) = file_of(dir.path(), size as usize);
    let rt = runtime();

    // The sender behind the relay, the receiver direct.
    let out = rt.block_on(async {
        let sender = relay::bind(&relay_config(&kamailio, "alice", PASSWORD), None)
            .await
            .unwrap();
        let path = sender.path();
        assert_eq!(path.len(), 2, "{path:?}");
        assert_eq!(path[0].port, Some(kamailio.port));
        transfer(&file, size, Sender::Relayed(Box::new(sender)), End::Direct).await
    });
    assert_arrived(&out, size, &sha, &[&kamailio]);
    std::fs::remove_file(&out.part).unwrap();

    // Both behind a relay, each their own (RFC 4976's picture): the
    // To-Path crosses both, and Alice's relay connects to Bob's.
    let bobs = MsrpRelay::start(PASSWORD);
    let out = rt.block_on(each_behind_one(&file, size, (&kamailio, &bobs), None));
    assert_arrived(&out, size, &sha, &[&kamailio, &bobs]);
    // Kamailio challenged each login with a digest before taking it.
    let log = kamailio.log() + &bobs.log();
    assert_eq!(log.matches("AUTH challenged").count(), 3, "{log}");
    assert!(log.contains("AUTH of alice from"), "{log}");
    assert!(log.contains("AUTH of bob from"), "{log}");
}

/// Trusts the test CA that signed the certificate in `certs` the way a
/// user trusts a private CA: `SSL_CERT_FILE`, read by the plugin's TLS
/// settings. (Set for the whole test binary: only the TLS tests read it,
/// and the untrusted relay's CA is never in it.)
fn trusting(certs: &Path) -> Arc<relay::TlsConfig> {
    std::env::set_var("SSL_CERT_FILE", certs.join("ca.pem"));
    tandem_plugin_file_transfer::tls_config().unwrap()
}

#[test]
fn a_file_goes_through_kamailio_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(certs.path());
    let tls = trusting(certs.path());
    let alices = MsrpRelay::start_tls(PASSWORD, certs.path());
    let bobs = MsrpRelay::start_tls(PASSWORD, certs.path());
    let dir = tempfile::tempdir().unwrap();
    let size = 3_000_017u64;
    let (file, sha) = file_of(dir.path(), size as usize);
    let rt = runtime();

    // Each behind their own relay, both over TLS: Alice's relay reaches
    // Bob's at the msrps:// URI in his path.
    let out = rt.block_on(each_behind_one(&file, size, (&alices, &bobs), Some(tls)));
    assert_arrived(&out, size, &sha, &[&alices, &bobs]);
    let log = alices.log() + &bobs.log();
    assert_eq!(log.matches("AUTH challenged").count(), 2, "{log}");
    // Each login came in on the relay's TLS socket.
    for (who, relay) in [("alice", &alices), ("bob", &bobs)] {
        let socket = format!("at tls:127.0.0.1:{} is ", relay.port);
        let login = log
            .lines()
            .find(|l| l.contains(&format!("AUTH of {who} from msrps://")))
            .unwrap_or_else(|| panic!("no login of {who}:\n{log}"));
        assert!(login.contains(&socket), "{login}");
    }
    assert!(log.contains("msrp-relay: SEND down to msrps://"), "{log}");
}

#[test]
fn a_relay_whose_certificate_is_not_trusted_is_refused_plainly() {
    // Its certificate is from a CA this machine has never heard of.
    let certs = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(certs.path());
    let kamailio = MsrpRelay::start_tls(PASSWORD, certs.path());
    let rt = runtime();
    let tls = tandem_plugin_file_transfer::tls_config().unwrap();
    let refused = rt.block_on(relay::bind(
        &relay_config(&kamailio, "alice", PASSWORD),
        Some(tls),
    ));
    let error = refused.err().expect("an untrusted relay was used");
    assert!(matches!(error, RelayError::Untrusted { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the MSRP relay at 127.0.0.1:{} is not trusted: its certificate is signed by no authority this machine trusts",
            kamailio.port
        )
    );
    // No login was tried.
    assert!(!kamailio.log().contains("AUTH"), "{}", kamailio.log());
}

#[test]
fn a_wrong_password_is_refused_in_plain_words() {
    let kamailio = MsrpRelay::start(PASSWORD);
    let rt = runtime();
    let refused = rt.block_on(relay::bind(
        &relay_config(&kamailio, "alice", "not-the-password"),
        None,
    ));
    let error = refused.err().expect("a wrong password was taken");
    assert!(matches!(error, RelayError::WrongPassword), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the MSRP relay refused the login: wrong user name or password"
    );
    // Nothing listening: said with the address.
    let port = tandem_tests::prosody::free_port();
    let nowhere = Relay {
        uri: MsrpUri::parse(&format!("msrp://127.0.0.1:{port};tcp")).unwrap(),
        user: "alice".into(),
        password: Password(PASSWORD.into()),
    };
    let error = rt.block_on(relay::bind(&nowhere, None)).err().unwrap();
    assert!(
        error.to_string().starts_with(&format!(
            "could not reach the MSRP relay at 127.0.0.1:{port}"
        )),
        "{error}"
    );
}

/// Throughput through Kamailio against direct, in one run (docs/decisions
/// 0068): a file of `MSRP_BENCH_MIB` MiB (64) in 4 KiB chunks, direct
/// (the receiver connects to the sender), the sender behind a relay,
/// and each behind its own. Run by hand:
/// `cargo test --locked -p tandem-tests --test msrp_relay --config 'profile.dev.package.tandem-plugin-file-transfer.opt-level=3' --config 'profile.dev.package.sha2.opt-level=3' --config 'profile.dev.package.memchr.opt-level=3' -- --ignored --nocapture msrp_relay_throughput`
#[test]
#[ignore = "a benchmark: run by hand"]
fn msrp_relay_throughput() {
    let mib: u64 = std::env::var("MSRP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let kamailio = MsrpRelay::start(PASSWORD);
    let bobs = MsrpRelay::start(PASSWORD);
    // On the disk the build uses, not /tmp: two copies of the file.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/msrp-bench");
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(&base).unwrap();
    let size = mib << 20;
    let (file, sha) = file_of(dir.path(), size as usize);
    let rt = runtime();
    let config = relay_config(&kamailio, "alice", PASSWORD);
    let bobs_config = relay_config(&bobs, "bob", PASSWORD);
    for how in ["direct", "sender behind a relay", "both behind one each"] {
        let (out, seconds) = rt.block_on(async {
            let (sender, receiver) = match how {
                "direct" => (
                    Sender::Listening(TcpListener::bind("127.0.0.1:0").await.unwrap()),
                    End::Direct,
                ),
                "sender behind a relay" => {
                    let sender = relay::bind(&config, None).await.unwrap();
                    (Sender::Relayed(Box::new(sender)), End::Direct)
                }
                _ => {
                    let sender = relay::bind(&config, None).await.unwrap();
                    let receiver = relay::bind(&bobs_config, None).await.unwrap();
                    (
                        Sender::Relayed(Box::new(sender)),
                        End::Relayed(Box::new(receiver)),
                    )
                }
            };
            let started = std::time::Instant::now();
            let out = transfer(&file, size, sender, receiver).await;
            (out, started.elapsed().as_secs_f64())
        });
        assert_arrived(&out, size, &sha, &[&kamailio]);
        let _ = std::fs::remove_file(&out.part);
        println!(
            "{how:>24}: {mib} MiB in {seconds:.1} s, {:.1} MB/s",
            size as f64 / 1e6 / seconds
        );
    }
}
