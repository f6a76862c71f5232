//! A large file through Tandem over HTTP and over MSRP, against `curl`
//! doing the HTTP work on the same server in the same run (issue 22's
//! performance item).
//!
//! `cargo bench -p tandem-tests --bench file_transfer`
//! (`TANDEM_BENCH_MIB`, default 256; `TANDEM_BENCH_ROUNDS`, default 2).
//!
//! The file sits on Prosody's file share (XEP-0363, plain HTTP on
//! loopback). Each round, in one run:
//!
//! - `curl` GETs the file's URL to a file and PUTs the file to a fresh slot;
//! - HTTP through Tandem: a SIP peer (sipp) offers the URL to Alice's
//!   sidecar (SIP, XMPP and file-transfer plugins, sip-chat.lua and
//!   accept-files.lua); her client accepts, and Tandem downloads the file
//!   to its folder (SHA-256 taken as it arrives), asks the same server for
//!   an upload slot, PUTs it there and shares the link;
//! - MSRP, Tandem to Tandem over SIP: Alice's client shares the URL with
//!   Bob's SIP address; her Tandem (`offer_as = "msrp"`) fetches it and
//!   offers it in a SIP session (RFC 5547); Bob's Tandem asks Bob's client,
//!   which accepts, and receives it over MSRP (RFC 4975, 4 KiB chunks).
//!
//! Reported per direction: throughput (a download through Tandem from the
//! accept to the kept file being complete; its upload from then to the
//! client holding the link), CPU per MB (Tandem's processes; curl's user +
//! system time), and Tandem's RSS above idle while it runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tandem_tests::measure::{cpu_seconds, env_or, status_kib, wall_clock};
use tandem_tests::prosody::{Prosody, DOMAIN};
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::XmppClient;

const SIDECAR: &str = "alice@localhost/tandem";
const MB: f64 = 1e6;

fn main() {
    let mib: u64 = env_or("TANDEM_BENCH_MIB", 256);
    let rounds: usize = env_or("TANDEM_BENCH_ROUNDS", 2);
    let size = mib * 1024 * 1024;
    let server = Prosody::start_with_upload_limit(size * 2);
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source.bin");
    write_random(&source, size);

    let alice = server.register("alice", "alice-secret");
    let mut client = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let downloads = work.path().join("files");
    let sidecar = Sidecar::start_phone_plugins(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &["sip-chat", "accept-files"],
        "",
        &files_config(&downloads, size, "offer_as = \"msrp\"\n"),
        &["tandem_plugin_file_transfer"],
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    let mut bob = Bob::start(&server, work.path(), size);

    // The file on the user's server, put there by curl.
    let url = curl_put(&mut client, &source, "bench.bin").url;
    let pid = sidecar.pid();
    println!(
        "{mib} MiB on loopback: curl and Tandem over HTTP against one Prosody, \
         Tandem to Tandem over MSRP; {rounds} rounds"
    );
    println!("| round | path | download | upload | CPU per MB moved | RSS over idle |");
    println!("|---|---|---|---|---|---|");
    for round in 1..=rounds {
        let got = curl_get(&url, &work.path().join("curl.bin"));
        let put = curl_put(&mut client, &source, &format!("curl-{round}.bin"));
        println!(
            "| {round} | curl | {:.0} MB/s | {:.0} MB/s | {:.2} ms/MB | — |",
            size as f64 / MB / got.seconds,
            size as f64 / MB / put.seconds,
            (got.cpu + put.cpu) * 1e3 / (2.0 * size as f64 / MB),
        );
        let t = through_tandem(&sidecar, &mut client, pid, &url, round, size, &downloads);
        println!(
            "| {round} | Tandem | {:.0} MB/s | {:.0} MB/s | {:.2} ms/MB | +{:.1} MB (idle {:.1} MB) |",
            size as f64 / MB / t.download,
            size as f64 / MB / t.upload,
            t.cpu * 1e3 / (2.0 * size as f64 / MB),
            t.rss_over_idle_mb,
            t.idle_rss_mb,
        );
        println!(
            "| {round} | Tandem / curl | {:.2} | {:.2} | {:.2} | |",
            got.seconds / t.download,
            put.seconds / t.upload,
            t.cpu / (got.cpu + put.cpu),
        );
        std::fs::remove_file(downloads.join(format!("bench-{round}.bin"))).ok();
        let m = over_msrp(&mut client, pid, &mut bob, &url, size);
        println!(
            "| {round} | Tandem → Tandem, MSRP | {:.0} MB/s | — | {:.2} ms/MB (both ends) | \
             +{:.1} MB sending, +{:.1} MB receiving |",
            size as f64 / MB / m.seconds,
            m.cpu * 1e3 / (size as f64 / MB),
            m.sender_rss_mb,
            m.receiver_rss_mb,
        );
        println!(
            "| {round} | MSRP / curl | {:.2} | | {:.2} | |",
            got.seconds / m.seconds,
            (m.cpu / (size as f64 / MB)) / (got.cpu / (size as f64 / MB)),
        );
    }
}

/// The file-transfer section (`extra` in it): downloads kept in `dir`,
/// files up to twice `size` taken.
fn files_config(dir: &Path, size: u64, extra: &str) -> String {
    format!(
        "\n[plugins.file-transfer]\ndownload_dir = {:?}\nmax_size = {}\nkeep_files = true\n{extra}\n\
         [scripts.accept-files]\nmax_size = {}\n",
        dir.display().to_string(),
        size * 2,
        size * 2
    )
}

/// The receiving end of the MSRP rounds: Bob's account, his client and
/// his Tandem (SIP user `bob`), keeping what it receives in `files`.
struct Bob {
    client: XmppClient,
    sidecar: Sidecar,
    files: PathBuf,
}

impl Bob {
    const TANDEM: &str = "bob@localhost/tandem";

    fn start(server: &Prosody, work: &Path, size: u64) -> Bob {
        let files = work.join("bob-files");
        let jid = server.register("bob", "bob-secret");
        let client = XmppClient::login(server, &jid, "bob-secret", "dino", 5);
        let sidecar = Sidecar::start_phone_plugins(
            server,
            (&jid, "bob-secret"),
            "bob",
            &["sip-chat", "accept-files"],
            "",
            &files_config(&files, size, ""),
            &["tandem_plugin_file_transfer"],
        );
        sidecar.wait_online(Bob::TANDEM, 1);
        sidecar.wait_for("EVENT xmpp.own_presence bob@localhost/dino available 5");
        Bob {
            client,
            sidecar,
            files,
        }
    }

    fn uri(&self) -> String {
        format!("sip:bob@127.0.0.1:{}", self.sidecar.sip_port())
    }
}

/// The id to answer with, from the note in which `client` is asked by
/// `tandem` to take `name`.
fn offered(client: &XmppClient, tandem: &str, name: &str) -> String {
    let offer = client.wait_for_within(
        "the offer",
        Duration::from_secs(300),
        Duration::from_millis(5),
        |e: &Value| {
            e["event"] == "message"
                && e["from"] == tandem
                && e["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(&format!("offers {name}")))
        },
    );
    let body = offer["body"].as_str().unwrap();
    body.rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned()
}

/// What one MSRP transfer took.
struct Msrp {
    seconds: f64,
    /// Both Tandems' CPU from the accept to the file being whole.
    cpu: f64,
    sender_rss_mb: f64,
    receiver_rss_mb: f64,
}

/// Alice's client shares `url` with Bob; her Tandem (`alice_pid`) offers
/// it over MSRP; Bob accepts; timed from his accept to the file whole in
/// his Tandem's folder. The round ends when Alice is told it was sent and
/// Bob's client has its link.
fn over_msrp(alice: &mut XmppClient, alice_pid: u32, bob: &mut Bob, url: &str, size: u64) -> Msrp {
    let long = Duration::from_secs(300);
    let poll = Duration::from_millis(5);
    let name = url.rsplit('/').next().unwrap().to_owned();
    alice.clear();
    bob.client.clear();
    alice.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{} {url}", bob.uri()), "oob": url,
    } }));
    let id = offered(&bob.client, Bob::TANDEM, &name);
    let bob_pid = bob.sidecar.pid();
    let kept = bob.files.join(&name);
    let watch = Watch::start(&[alice_pid, bob_pid], kept.clone(), size);
    let cpu_before = cpu_seconds(alice_pid) + cpu_seconds(bob_pid);
    let accepted = wall_clock();
    bob.client.send(json!({ "message": {
        "to": Bob::TANDEM, "body": format!("accept {id}"),
    } }));
    bob.client
        .wait_for_within("the file shared with Bob", long, poll, |e: &Value| {
            e["event"] == "message"
                && e["from"] == Bob::TANDEM
                && e["body"].as_str().is_some_and(|b| b.starts_with("http"))
        });
    alice.wait_for_within("Alice's note", long, poll, |e: &Value| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"]
                .as_str()
                .is_some_and(|b| b.contains(&format!("Sent {name}")))
    });
    let watched = watch.stop();
    std::fs::remove_file(&kept).ok();
    Msrp {
        seconds: watched.whole_at - accepted,
        cpu: watched.cpu_when_whole - cpu_before,
        sender_rss_mb: watched.rss_over_idle_mb[0],
        receiver_rss_mb: watched.rss_over_idle_mb[1],
    }
}

/// Processes' RSS peaks and a file growing to its size, sampled every
/// 10 ms on a thread of their own.
struct Watch {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Watched>,
}

/// What a [`Watch`] saw.
struct Watched {
    /// Each process's RSS when the watch began, in MB.
    idle_mb: Vec<f64>,
    /// Each process's peak RSS above its RSS when the watch began, in MB.
    rss_over_idle_mb: Vec<f64>,
    /// When the file first had its whole size.
    whole_at: f64,
    /// The processes' CPU seconds, summed, at that moment.
    cpu_when_whole: f64,
}

impl Watch {
    fn start(pids: &[u32], file: PathBuf, size: u64) -> Watch {
        let pids = pids.to_vec();
        let idle: Vec<u64> = pids
            .iter()
            .map(|&p| status_kib(p, "VmRSS").unwrap())
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut peaks = idle.clone();
                let mut whole = None;
                while !done.load(Ordering::Relaxed) {
                    for (peak, &pid) in peaks.iter_mut().zip(&pids) {
                        *peak = (*peak).max(status_kib(pid, "VmRSS").unwrap_or(0));
                    }
                    if whole.is_none() && std::fs::metadata(&file).is_ok_and(|m| m.len() == size) {
                        let cpu: f64 = pids.iter().map(|&p| cpu_seconds(p)).sum();
                        whole = Some((wall_clock(), cpu));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let (whole_at, cpu_when_whole) = whole.expect("the kept file was never complete");
                Watched {
                    idle_mb: idle.iter().map(|&i| i as f64 / 1024.0).collect(),
                    rss_over_idle_mb: peaks
                        .iter()
                        .zip(&idle)
                        .map(|(p, i)| (p - i) as f64 / 1024.0)
                        .collect(),
                    whole_at,
                    cpu_when_whole,
                }
            })
        };
        Watch { done, thread }
    }

    fn stop(self) -> Watched {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// `size` bytes that do not compress, written in pieces.
fn write_random(path: &Path, size: u64) {
    let status = Command::new("head")
        .args(["-c", &size.to_string(), "/dev/urandom"])
        .stdout(std::fs::File::create(path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
}

/// What one curl run took.
struct Curl {
    seconds: f64,
    cpu: f64,
    url: String,
}

/// curl under `/usr/bin/time`: its own `time_total` and its user + system
/// time.
fn curl(args: &[&str]) -> (f64, f64) {
    let out = Command::new("/usr/bin/time")
        .args([
            "-f",
            "cpu %U %S",
            "curl",
            "-sS",
            "--fail",
            "-w",
            "%{time_total}\n",
        ])
        .args(args)
        .output()
        .expect("curl under /usr/bin/time");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "curl failed: {stderr}");
    let seconds: f64 = stdout.trim().parse().unwrap();
    let cpu = stderr
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .map(|l| l.split(' ').map(|v| v.parse::<f64>().unwrap()).sum())
        .unwrap();
    (seconds, cpu)
}

fn curl_get(url: &str, to: &Path) -> Curl {
    let (seconds, cpu) = curl(&["-o", &to.display().to_string(), url]);
    Curl {
        seconds,
        cpu,
        url: url.to_owned(),
    }
}

/// A slot from the user's server, then curl's PUT of `file` to it.
fn curl_put(client: &mut XmppClient, file: &Path, name: &str) -> Curl {
    let size = std::fs::metadata(file).unwrap().len();
    client.send(json!({ "slot": {
        "service": format!("upload.{DOMAIN}"), "name": name, "size": size,
        "content_type": "application/octet-stream",
    } }));
    let slot = client.wait_for("an upload slot", |e| {
        e["event"] == "slot" && e["name"] == name
    });
    let mut args = vec![
        "-T".to_owned(),
        file.display().to_string(),
        "-H".to_owned(),
        "Content-Type: application/octet-stream".to_owned(),
    ];
    for (name, value) in slot["headers"].as_object().unwrap() {
        args.push("-H".into());
        args.push(format!("{name}: {}", value.as_str().unwrap()));
    }
    args.push(slot["put"].as_str().unwrap().to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (seconds, cpu) = curl(&args);
    Curl {
        seconds,
        cpu,
        url: slot["get"].as_str().unwrap().to_owned(),
    }
}

/// What one transfer through Tandem took.
struct Through {
    download: f64,
    upload: f64,
    cpu: f64,
    idle_rss_mb: f64,
    rss_over_idle_mb: f64,
}

/// Bob offers `url`; the user accepts; Tandem downloads, uploads, shares.
fn through_tandem(
    sidecar: &Sidecar,
    client: &mut XmppClient,
    pid: u32,
    url: &str,
    round: usize,
    size: u64,
    downloads: &Path,
) -> Through {
    let name = format!("bench-{round}.bin");
    let peer_port = (5070 + round).to_string();
    let dir = tempfile::tempdir().unwrap();
    sipp::offer_file(sidecar.sip_port(), url, &name, size, &peer_port, dir.path());
    let id = offered(client, SIDECAR, &name);
    let watch = Watch::start(&[pid], downloads.join(&name), size);
    client.clear();
    let cpu_before = cpu_seconds(pid);
    let accepted = wall_clock();
    client.send(json!({ "message": { "to": SIDECAR, "body": format!("accept {id}") } }));
    let shared = client.wait_for_within(
        "the shared file",
        Duration::from_secs(300),
        Duration::from_millis(5),
        |e: &Value| {
            e["event"] == "message"
                && e["from"] == SIDECAR
                && e["body"].as_str().is_some_and(|b| b.starts_with("http"))
        },
    );
    let cpu = cpu_seconds(pid) - cpu_before;
    let watched = watch.stop();
    let downloaded_at = watched.whole_at;
    Through {
        download: downloaded_at - accepted,
        upload: shared["t"].as_f64().unwrap() - downloaded_at,
        cpu,
        idle_rss_mb: watched.idle_mb[0],
        rss_over_idle_mb: watched.rss_over_idle_mb[0],
    }
}
