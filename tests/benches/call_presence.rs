//! End-to-end delay of the product's headline: from a SIP call being
//! answered to a contact's client receiving "On the phone".
//!
//! `cargo bench -p tandem-tests --bench call_presence` (TANDEM_BENCH_CALLS,
//! default 1000, at 10 calls/s). sipp calls the sidecar (XMPP + SIP plugins,
//! the shipped on-the-phone and auto-answer rules) on a throwaway Prosody; a
//! slixmpp contact watches. Start: the sidecar's log line for
//! `sip.call.answered` (published when the ACK arrives). End: the watcher
//! receiving the presence. Both are wall-clock stamps on one machine.
//!
//! First, idle: the sidecar connected (XMPP) and listening (SIP) and a
//! baresip with one account, side by side for 10 s: CPU and RSS of each.

use std::time::{SystemTime, UNIX_EPOCH};

use tandem_tests::measure::{cpu_seconds, env_or, percentile, status_mib};
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::alice_and_bob;

/// Seconds into the UTC day of a log line's `2026-11-23T10:07:38.713297Z`.
fn time_of_day(line: &str) -> Option<f64> {
    let time = line.split('T').nth(1)?.split('Z').next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn main() {
    let calls: usize = env_or("TANDEM_BENCH_CALLS", 1000);
    let server = Prosody::start();
    let (alice, _gajim, phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start_phone(
        &server,
        (&alice, "alice-secret"),
        "alice",
        &["on-the-phone", "auto-answer"],
        "",
        "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n",
    );
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    phone.wait_for("the sidecar", |e| e["from"] == "alice@localhost/tandem");
    phone.clear();

    // Idle, side by side with baresip.
    let baresip = tandem_tests::baresip::Baresip::start(440.0, None);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pids = [("tandem", sidecar.pid()), ("baresip", baresip.pid())];
    let before: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    std::thread::sleep(std::time::Duration::from_secs(10));
    for ((name, pid), before) in pids.iter().zip(before) {
        println!(
            "idle {name}: CPU {:.2} % over 10 s, RSS {:.1} MiB",
            (cpu_seconds(*pid) - before) / 10.0 * 100.0,
            status_mib(*pid, "VmRSS")
        );
    }
    drop(baresip);

    let port = sidecar.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let started = SystemTime::now();
    let out = sipp::command(
        &[
            "-sn",
            "uac",
            "-r",
            "10",
            "-m",
            &calls.to_string(),
            "-d",
            "20",
            "-s",
            "alice",
            "-timeout",
            "1000s",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wall = started.elapsed().unwrap().as_secs_f64();
    std::thread::sleep(std::time::Duration::from_secs(1));

    let day = |t: f64| t.rem_euclid(86400.0);
    let log = sidecar.log();
    let answered: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("SIP sip.call.answered"))
        .filter_map(time_of_day)
        .collect();
    let seen: Vec<f64> = phone
        .seen()
        .iter()
        .filter(|e| e["from"] == "alice@localhost/tandem" && e["status"] == "On the phone")
        .filter_map(|e| e["t"].as_f64().map(day))
        .collect();
    let mut delays: Vec<f64> = answered
        .iter()
        .filter_map(|a| seen.iter().find(|s| **s >= *a).map(|s| (s - a) * 1e3))
        .collect();
    delays.sort_by(|a, b| a.total_cmp(b));
    assert!(!delays.is_empty(), "no call was seen: {log}");
    println!(
        "call_presence: {} calls answered in {wall:.0} s, {} \"On the phone\" seen; \
         answered → contact sees it: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        answered.len(),
        seen.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().unwrap()
    );
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    if day(epoch) < wall {
        println!("(the run crossed midnight UTC: figures are unreliable, run again)");
    }
}
