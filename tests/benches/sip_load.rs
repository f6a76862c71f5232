//! Call-rate capacity as a UAS, side by side in one run: the same sipp UAC
//! against sipp's own UAS (the tool's ceiling), Tandem (SIP plugin and the
//! auto-answer rule) and baresip (auto-answer). For each, a binary search
//! (RFC 7502 style) for the highest rate held for the whole window with no
//! failed call and no retransmission; at that rate, p99 INVITE→200 time and
//! the UAS's CPU and peak RSS.
//!
//! `cargo bench -p tandem-tests --bench sip_load`
//! (TANDEM_LOAD_SECONDS: the window, default 60; TANDEM_LOAD_MAX: the
//! search's upper bound in calls/s, default 2000; TANDEM_LOAD_ONLY: one of
//! `sipp uas`, `tandem`, `baresip`).
//!
//! With TANDEM_BENCH_RATE set, no search: sipp's UAS then Tandem at that
//! one rate for TANDEM_BENCH_SECONDS (default 40), each freshly started,
//! and their peak RSS side by side (`fixed_rate.rs`), a run of minutes to
//! iterate on memory with.

#[path = "sip_load/fixed_rate.rs"]
mod fixed_rate;

use std::path::Path;

use tandem_tests::baresip::Baresip;
use tandem_tests::measure::{cpu_seconds, env_or, percentile, status_mib};
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

/// One UAS under test.
pub(crate) enum Uas {
    Sipp(sipp::Background, u16),
    Tandem(Sidecar),
    Baresip(Baresip),
}

impl Uas {
    fn port(&self) -> u16 {
        match self {
            Uas::Sipp(_, port) => *port,
            Uas::Tandem(sidecar) => sidecar.sip_port(),
            Uas::Baresip(b) => b.port,
        }
    }

    /// The user part the UAS answers to.
    fn user(&self) -> &'static str {
        match self {
            Uas::Baresip(_) => "bob",
            _ => "alice",
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Uas::Sipp(bg, _) => bg.pid(),
            Uas::Tandem(sidecar) => sidecar.pid(),
            Uas::Baresip(b) => b.pid(),
        }
    }
}

/// What one window at one rate gave.
pub(crate) struct Trial {
    ok: bool,
    /// Failed, retransmissions, succeeded, as sipp counted them.
    counts: (u64, u64, u64),
    p99_ms: f64,
    cpu: f64,
}

pub(crate) fn trial(uas: &Uas, rate: u32, seconds: u32, dir: &Path) -> Trial {
    let stats = dir.join(format!("stat-{rate}.csv"));
    let _ = std::fs::remove_file(&stats);
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        if f.file_name().to_string_lossy().contains("_rtt.csv") {
            let _ = std::fs::remove_file(f.path());
        }
    }
    let cpu_before = cpu_seconds(uas.pid());
    let mut args = vec!["-sn", "uac", "-s", uas.user(), "-d", "0"];
    let measured = sipp::measured(rate, rate * seconds, &stats, seconds);
    args.extend(measured.iter().map(String::as_str));
    let to = format!("127.0.0.1:{}", uas.port());
    args.push(&to);
    let out = sipp::command(&args, dir).output().unwrap();
    let cpu = (cpu_seconds(uas.pid()) - cpu_before) / f64::from(seconds);
    let stats = sipp::Stats::read(&stats);
    let failed = stats.count("FailedCall(C)");
    let retrans = stats.count("Retransmissions(C)");
    let succeeded = stats.count("SuccessfulCall(C)");
    let rtts = sipp::response_times_ms(dir);
    let p99_ms = percentile(&rtts, 0.99);
    let ok = out.status.success()
        && failed == 0
        && retrans == 0
        && succeeded == u64::from(rate * seconds);
    Trial {
        ok,
        counts: (failed, retrans, succeeded),
        p99_ms,
        cpu,
    }
}

/// Binary search for the highest rate that passes; (rate, its trial, peak
/// RSS at that rate). Each trial gets a freshly started UAS, so an
/// overloaded window cannot poison the next one.
fn capacity(name: &str, seconds: u32, max: u32) -> (u32, Option<Trial>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut lo, mut hi) = (0u32, max);
    let mut best = None;
    let mut best_rss = 0.0;
    while hi - lo > (max / 64).max(5) {
        let rate = (lo + hi).div_ceil(2);
        let uas = start(name, dir.path());
        let t = trial(&uas, rate, seconds, dir.path());
        let rss = status_mib(uas.pid(), "VmHWM");
        drop(uas);
        eprintln!(
            "  {name}: {rate} calls/s for {seconds} s: {} (failed {}, retransmissions {}, \
             succeeded {}; p99 {:.1} ms, CPU {:.0} %, peak RSS {rss:.1} MiB)",
            if t.ok { "pass" } else { "fail" },
            t.counts.0,
            t.counts.1,
            t.counts.2,
            t.p99_ms,
            t.cpu * 100.0
        );
        if t.ok {
            lo = rate;
            best = Some(t);
            best_rss = rss;
        } else {
            hi = rate;
        }
    }
    (lo, best, best_rss)
}

/// Starts the UAS called `name`, answering every call.
pub(crate) fn start(name: &str, dir: &Path) -> Uas {
    match name {
        "sipp uas" => {
            let port = sipp::free_udp_port();
            // Overrides the helper's 30 s safety timeout: it serves all runs.
            let args = ["-sn", "uas", "-p", &port.to_string(), "-timeout", "0"];
            let bg = sipp::Background::start(&args, dir);
            Uas::Sipp(bg, port)
        }
        "tandem" => {
            // max_ringing: at 2,000 calls/s a stall of 8 ms leaves more than
            // the default 16 ringing, and a 486 would fail the trial; what is
            // measured is the call rate, not the flood guard.
            let sidecar = Sidecar::start_sip(
                "user = \"alice\"\nmax_ringing = 256\n\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n",
                &["auto-answer"],
            );
            // As a user runs it: no test rule logging every event.
            tandem_tests::write(
                sidecar.dir.path(),
                "scripts/watch.lua",
                "-- off under load\n",
            );
            sidecar.wait_for("script reloaded");
            Uas::Tandem(sidecar)
        }
        _ => Uas::Baresip(Baresip::start_for(440.0, None, 7200)),
    }
}

fn main() {
    if let Some(rate) = std::env::var("TANDEM_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        fixed_rate::run(rate, env_or("TANDEM_BENCH_SECONDS", 40));
        return;
    }
    let seconds: u32 = env_or("TANDEM_LOAD_SECONDS", 60);
    let max: u32 = env_or("TANDEM_LOAD_MAX", 2000);
    let mut rows = Vec::new();
    let only = std::env::var("TANDEM_LOAD_ONLY").ok();
    for name in ["sipp uas", "tandem", "baresip"] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let (rate, best, rss) = capacity(name, seconds, max);
        rows.push((name.to_string(), rate, best, rss));
    }
    println!("\nsip_load: highest rate held {seconds} s with 0 failed calls and 0 retransmissions");
    println!("| UAS | calls/s | p99 INVITE→200 | CPU at that rate | peak RSS |");
    println!("|---|---|---|---|---|");
    for (name, rate, best, rss) in &rows {
        let (p99, cpu) = best
            .as_ref()
            .map(|t| {
                (
                    format!("{:.1} ms", t.p99_ms),
                    format!("{:.0} %", t.cpu * 100.0),
                )
            })
            .unwrap_or(("—".into(), "—".into()));
        println!("| {name} | {rate} | {p99} | {cpu} | {rss:.1} MiB |");
    }
    let rate = |n: &str| {
        rows.iter()
            .find(|r| r.0 == n)
            .map(|r| f64::from(r.1))
            .unwrap_or(0.0)
    };
    println!(
        "\nTandem / baresip: {:.2}; Tandem / sipp uas: {:.2}",
        rate("tandem") / rate("baresip").max(1.0),
        rate("tandem") / rate("sipp uas").max(1.0)
    );
}
