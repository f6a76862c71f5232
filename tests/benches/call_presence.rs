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
//! The delay is cut in two at the XMPP plugin's log line "presence sent"
//! (written once the stanza is on the stream): Tandem's part before it,
//! the server's and the contact's client's after it. In the same run, the
//! user's own slixmpp client changes its status 10 times a second and the
//! same watcher times those: the reference, what Prosody and slixmpp alone
//! take on this machine now.
//!
//! First, idle: the sidecar connected (XMPP) and listening (SIP) and a
//! baresip with one account, side by side for 10 s: CPU and RSS of each.

use std::time::{Duration, SystemTime};

use serde_json::json;
use tandem_tests::measure::{cpu_seconds, env_or, percentile, status_mib, wall_clock};
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

/// "p50 …, p99 …, max … ms" of delays in milliseconds.
fn summary(delays: &mut [f64]) -> String {
    delays.sort_by(|a, b| a.total_cmp(b));
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        percentile(delays, 0.5),
        percentile(delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN),
        delays.len()
    )
}

fn main() {
    let calls: usize = env_or("TANDEM_BENCH_CALLS", 1000);
    let server = Prosody::start();
    let (alice, mut gajim, phone) = alice_and_bob(&server);
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
    std::thread::sleep(Duration::from_secs(2));
    let pids = [("tandem", sidecar.pid()), ("baresip", baresip.pid())];
    let before: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    std::thread::sleep(Duration::from_secs(10));
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
    let mut sipp = sipp::command(
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
    // Its screen is not read while it runs: not piped, where it could fill.
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::inherit())
    .spawn()
    .unwrap();
    // The reference: the user's own client changes its status between
    // the calls, 10 times a second, for as long as sipp runs.
    std::thread::sleep(Duration::from_millis(50));
    let mut references = 0;
    let status = loop {
        if let Some(status) = sipp.try_wait().unwrap() {
            break status;
        }
        gajim.send(json!({"presence": {"status": format!("ref-{references}")}}));
        references += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "sipp failed: {status}");
    let wall = started.elapsed().unwrap().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));

    let day = |t: f64| t.rem_euclid(86400.0);
    let log = sidecar.log();
    // Each answered call, and the next presence the plugin wrote after it.
    let mut stages: Vec<(f64, Option<f64>)> = Vec::new();
    for line in log.lines() {
        if line.contains("SIP sip.call.answered") {
            stages.extend(time_of_day(line).map(|t| (t, None)));
        } else if line.contains("presence sent: ") {
            if let Some(last) = stages.last_mut().filter(|s| s.1.is_none()) {
                last.1 = time_of_day(line);
            }
        }
    }
    let seen: Vec<f64> = phone
        .seen()
        .iter()
        .filter(|e| e["from"] == "alice@localhost/tandem" && e["status"] == "On the phone")
        .filter_map(|e| e["t"].as_f64().map(day))
        .collect();
    let (mut total, mut tandem, mut server_side) = (Vec::new(), Vec::new(), Vec::new());
    for (answered, written) in &stages {
        let Some(seen) = seen.iter().find(|s| **s >= *answered) else {
            continue;
        };
        total.push((seen - answered) * 1e3);
        if let Some(written) = written.filter(|w| w <= seen) {
            tandem.push((written - answered) * 1e3);
            server_side.push((seen - written) * 1e3);
        }
    }
    assert!(!total.is_empty(), "no call was seen: {log}");

    // The reference: from slixmpp having sent each status to the watcher
    // receiving it.
    let sent: std::collections::HashMap<String, f64> = gajim
        .seen()
        .iter()
        .filter(|e| e["event"] == "presence_sent")
        .filter_map(|e| Some((e["status"].as_str()?.to_owned(), e["t"].as_f64()?)))
        .collect();
    let mut reference: Vec<f64> = phone
        .seen()
        .iter()
        .filter(|e| e["from"] == "alice@localhost/gajim")
        .filter_map(|e| Some((e["t"].as_f64()? - sent.get(e["status"].as_str()?)?) * 1e3))
        .collect();

    println!(
        "call_presence: {} calls answered in {wall:.0} s, {} \"On the phone\" seen",
        stages.len(),
        seen.len()
    );
    let total_p99 = {
        total.sort_by(|a, b| a.total_cmp(b));
        percentile(&total, 0.99)
    };
    println!("answered → contact sees it:        {}", summary(&mut total));
    println!(
        "  answered → presence sent (Tandem): {}",
        summary(&mut tandem)
    );
    println!(
        "  sent → contact (Prosody, slixmpp): {}",
        summary(&mut server_side)
    );
    println!(
        "reference, same run, {references} status changes of the user's own slixmpp client → contact: {}",
        summary(&mut reference)
    );
    println!(
        "p99 ratio, Tandem's path / the reference: {:.2}",
        total_p99 / percentile(&reference, 0.99)
    );
    if day(wall_clock()) < wall {
        println!("(the run crossed midnight UTC: figures are unreliable, run again)");
    }
}
