//! A large file over HTTP through Tandem, against `curl` doing the same
//! work on the same server in the same run (issue 22's performance item).
//!
//! `cargo bench -p tandem-tests --bench file_transfer_http`
//! (`TANDEM_BENCH_MIB`, default 256; `TANDEM_BENCH_ROUNDS`, default 2).
//!
//! The file sits on Prosody's file share (XEP-0363, plain HTTP on
//! loopback). Each round a SIP peer (sipp) offers its URL to the sidecar
//! (SIP, XMPP and file-transfer plugins, sip-chat.lua and accept-files.lua);
//! the user's client accepts, and Tandem downloads the file to its folder
//! (SHA-256 taken as it arrives), asks the same server for an upload slot,
//! PUTs it there and shares the link. Beside it, in the same round, `curl`
//! GETs the same URL to a file and PUTs the file to a fresh slot. Reported
//! per direction: throughput (Tandem's download from the accept to the
//! kept file being complete; its upload from then to the client holding
//! the link), CPU per MB (Tandem's process, both directions; curl's user +
//! system time), and Tandem's RSS above idle while it runs.

use std::path::Path;
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
        &format!(
            "\n[plugins.file-transfer]\ndownload_dir = {:?}\nmax_size = {}\nkeep_files = true\n\n\
             [scripts.accept-files]\nmax_size = {}\n",
            downloads.display().to_string(),
            size * 2,
            size * 2
        ),
        &["tandem_plugin_file_transfer"],
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");

    // The file on the user's server, put there by curl.
    let url = curl_put(&mut client, &source, "bench.bin").url;
    let pid = sidecar.pid();
    println!(
        "{mib} MiB over HTTP on loopback, Tandem and curl against one Prosody, {rounds} rounds"
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
            t.peak_rss_mb - t.idle_rss_mb,
            t.idle_rss_mb,
        );
        println!(
            "| {round} | Tandem / curl | {:.2} | {:.2} | {:.2} | |",
            got.seconds / t.download,
            put.seconds / t.upload,
            t.cpu / (got.cpu + put.cpu),
        );
        std::fs::remove_file(downloads.join(format!("bench-{round}.bin"))).ok();
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
    peak_rss_mb: f64,
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
    let offer = client.wait_for("the offer", |e| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"]
                .as_str()
                .is_some_and(|b| b.contains(&format!("offers {name}")))
    });
    let id = offer["body"]
        .as_str()
        .unwrap()
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned();

    // RSS and the kept file, watched every 10 ms on a thread of their own.
    let idle_rss_mb = status_kib(pid, "VmRSS").unwrap() as f64 / 1024.0;
    let done = Arc::new(AtomicBool::new(false));
    let kept = downloads.join(&name);
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut peak, mut downloaded_at) = (0u64, None);
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(status_kib(pid, "VmRSS").unwrap_or(0));
                if downloaded_at.is_none()
                    && std::fs::metadata(&kept).is_ok_and(|m| m.len() == size)
                {
                    downloaded_at = Some(wall_clock());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (peak, downloaded_at)
        })
    };
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
    done.store(true, Ordering::Relaxed);
    let (peak, downloaded_at) = watcher.join().unwrap();
    let downloaded_at = downloaded_at.expect("the kept file was never complete");
    Through {
        download: downloaded_at - accepted,
        upload: shared["t"].as_f64().unwrap() - downloaded_at,
        cpu,
        idle_rss_mb,
        peak_rss_mb: peak as f64 / 1024.0,
    }
}
