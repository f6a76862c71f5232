//! One rate, no search: sipp's UAS and Tandem, each freshly started, take
//! the same sipp UAC load for the same window; their peak RSS side by side
//! (issue 24: Tandem's within 2× sipp's). RSS is also read every few
//! seconds, to see whether it climbs for the whole window (something kept
//! per call) or levels off after RFC 6026's Timer L (32 s, transactions).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tandem_tests::measure::status_mib;

use super::{start, trial};

/// What one UAS did at the rate.
struct Row {
    name: &'static str,
    ok: bool,
    succeeded: u64,
    retransmissions: u64,
    failed: u64,
    cpu: f64,
    peak_mib: f64,
    /// VmRSS every `STEP` seconds of the window.
    timeline: Vec<f64>,
}

const STEP: u64 = 5;

/// Runs the window against `name`, reading its RSS on the side.
fn one(name: &'static str, rate: u32, seconds: u32) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let uas = start(name, dir.path());
    let pid = uas.pid();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut timeline = vec![status_mib(pid, "VmRSS")];
            while !done.load(Ordering::Relaxed) {
                for _ in 0..STEP * 10 {
                    std::thread::sleep(Duration::from_millis(100));
                    if done.load(Ordering::Relaxed) {
                        return timeline;
                    }
                }
                timeline.push(status_mib(pid, "VmRSS"));
            }
            timeline
        })
    };
    let t = trial(&uas, rate, seconds, dir.path());
    done.store(true, Ordering::Relaxed);
    let timeline = sampler.join().unwrap();
    let peak_mib = status_mib(pid, "VmHWM");
    let (failed, retransmissions, succeeded) = t.counts;
    let row = Row {
        name,
        ok: t.ok,
        succeeded,
        retransmissions,
        failed,
        cpu: t.cpu,
        peak_mib,
        timeline,
    };
    drop(uas);
    row
}

pub fn run(rate: u32, seconds: u32) {
    let only = std::env::var("TANDEM_LOAD_ONLY").ok();
    let rows: Vec<Row> = ["sipp uas", "tandem"]
        .into_iter()
        .filter(|n| only.as_deref().is_none_or(|o| o == *n))
        .map(|name| {
            let row = one(name, rate, seconds);
            let timeline: Vec<String> = row.timeline.iter().map(|m| format!("{m:.0}")).collect();
            eprintln!("  {name}: RSS every {STEP} s (MiB): {}", timeline.join(" "));
            row
        })
        .collect();
    println!("\nsip_load at a fixed {rate} calls/s for {seconds} s (sipp UAC -sn uac -d 0, UDP loopback)");
    println!("| UAS | calls done | calls/s | failed | retransmissions | CPU | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {}{} | {} | {:.0} | {} | {} | {:.0} % | {:.1} MiB |",
            r.name,
            if r.ok { "" } else { " (not held)" },
            r.succeeded,
            r.succeeded as f64 / f64::from(seconds),
            r.failed,
            r.retransmissions,
            r.cpu * 100.0,
            r.peak_mib
        );
    }
    let peak = |n: &str| rows.iter().find(|r| r.name == n).map(|r| r.peak_mib);
    if let (Some(sipp), Some(tandem)) = (peak("sipp uas"), peak("tandem")) {
        println!(
            "\nTandem / sipp uas peak RSS: {:.2} (target ≤ 2)",
            tandem / sipp.max(0.1)
        );
    }
}
