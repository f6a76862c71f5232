//! Sustained SIP MESSAGE load into the user's XMPP client (issue 20): sipp
//! sends text MESSAGEs at a fixed rate for a whole window to `tandem run`
//! (SIP and XMPP plugins, sip-chat.lua), which relays each as a note
//! through Prosody to the user's client (slixmpp). Nothing answered 2xx may
//! be lost, and the daemon's resident memory must not grow (≤ 5 MB between
//! the end of a warm-up and the end of the run).
//!
//! `cargo bench -p tandem-tests --bench sip_chat_sustained`
//! (TANDEM_SUSTAINED_RATE: MESSAGEs/s, default 1000;
//! TANDEM_SUSTAINED_SECONDS: the window, default 60;
//! TANDEM_SUSTAINED_WARMUP: seconds at the same rate first, default 40).
//!
//! The warm-up must outlast 32 s: for 64·T1 = 32 s after its 200 the SIP
//! stack (rsipstack) keeps each finished MESSAGE transaction with its last
//! message, to answer retransmissions (RFC 3261 Timer J), so at 1,000/s
//! about 32,000 of them are held at any time. With a 5 s warm-up the RSS
//! grew ~39 MiB in the window's first 32 s and then stayed flat: state the
//! RFC asks for filling up, not a leak.
//!
//! Not a test: CI never runs it (`cargo test` builds no bench). It prints
//! the figures for docs/benchmarks.md and exits 1 when a MESSAGE answered
//! 2xx never reached the client or memory grew more than 5 MB.
//!
//! Each MESSAGE carries sipp's wall clock at sending ([timestamp]); the
//! client stamps each note on arrival with the same clock, so the delivery
//! latency of every message is measured, not only the 2xx time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tandem_tests::measure::{cpu_seconds, env_or, percentile, status_kib};
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::XmppClient;

/// What sipp counted for one run, and its MESSAGE→response times (ms).
struct Sent {
    created: u64,
    /// Calls per second over the whole run, as sipp counted.
    call_rate: f64,
    ok: u64,
    failed: u64,
    retransmissions: u64,
    rtt_ms: Vec<f64>,
    exit: String,
}

/// sipp sends `rate` MESSAGEs/s for `seconds` to `port`, bodies
/// `TAG-N <timestamp>`, and waits for every answer.
fn send(port: u16, tag: &str, rate: u32, seconds: u32, dir: &Path) -> Sent {
    std::fs::create_dir_all(dir).unwrap();
    let stats = dir.join("stat.csv");
    let scenario = sipp::scenario_path("message_load_uac.xml");
    let mut args = vec!["-sf", &scenario, "-key", "tag", tag];
    // sipp's own bound is the window and 30 s more.
    let measured = sipp::measured(rate, rate * seconds, &stats, seconds);
    args.extend(measured.iter().map(String::as_str));
    let to = format!("127.0.0.1:{port}");
    args.push(&to);
    let out = sipp::command(&args, dir).output().unwrap();
    let stats = sipp::Stats::read(&stats);
    Sent {
        created: stats.count("OutgoingCall(C)"),
        call_rate: stats.field("CallRate(C)").parse().unwrap_or(f64::NAN),
        ok: stats.count("SuccessfulCall(C)"),
        failed: stats.count("FailedCall(C)"),
        retransmissions: stats.count("Retransmissions(C)"),
        rtt_ms: sipp::response_times_ms(dir),
        exit: format!("{}", out.status),
    }
}

/// The notes the client got, by tag and number: arrival minus sending
/// time (ms) of the first copy, and how many copies came.
#[derive(Default)]
struct Received {
    notes: BTreeMap<(String, u64), (f64, u32)>,
    other: Vec<String>,
}

impl Received {
    /// Takes in what the client saw since the last call.
    fn drain(&mut self, client: &XmppClient) {
        for e in client.take() {
            if e["event"] != "message" {
                continue;
            }
            let body = e["body"].as_str().unwrap_or_default();
            // "Bob <sip:bob@127.0.0.1:P> (not verified): TAG-N <date> <time> <unix>"
            let Some((_, text)) = body.split_once("): ") else {
                self.other.push(body.to_owned());
                continue;
            };
            let words: Vec<&str> = text.split_whitespace().collect();
            let parsed = words
                .first()
                .and_then(|w| w.rsplit_once('-'))
                .and_then(|(tag, n)| {
                    let sent: f64 = words.last()?.parse().ok()?;
                    Some((tag.to_owned(), n.parse::<u64>().ok()?, sent))
                });
            let Some((tag, n, sent)) = parsed else {
                self.other.push(body.to_owned());
                continue;
            };
            let latency = (e["t"].as_f64().unwrap_or(f64::NAN) - sent) * 1e3;
            self.notes
                .entry((tag, n))
                .and_modify(|(_, copies)| *copies += 1)
                .or_insert((latency, 1));
        }
    }

    fn count(&self, tag: &str) -> u64 {
        self.notes.keys().filter(|(t, _)| t == tag).count() as u64
    }

    /// Waits until `expected` notes of `tag` came, or none came for
    /// `quiet`; returns when the last one came.
    fn wait(&mut self, client: &XmppClient, tag: &str, expected: u64, quiet: Duration) -> Instant {
        let mut last_progress = Instant::now();
        let mut seen = self.count(tag);
        while seen < expected && last_progress.elapsed() < quiet {
            std::thread::sleep(Duration::from_millis(200));
            self.drain(client);
            let now = self.count(tag);
            if now > seen {
                seen = now;
                last_progress = Instant::now();
            }
        }
        last_progress
    }
}

fn main() {
    let rate: u32 = env_or("TANDEM_SUSTAINED_RATE", 1000);
    let seconds: u32 = env_or("TANDEM_SUSTAINED_SECONDS", 60);
    let warmup: u32 = env_or("TANDEM_SUSTAINED_WARMUP", 40);
    let server = Prosody::start();
    let (_, gajim, sidecar) = Sidecar::alice_with_sip_chat(&server);
    // As a user runs it: no test rule logging every event.
    for rule in ["watch.lua", "watch-sip.lua"] {
        tandem_tests::write(sidecar.dir.path(), &format!("scripts/{rule}"), "-- off\n");
    }
    sidecar.wait_for_n("script reloaded", 2);
    let port = sidecar.sip_port();
    let pid = sidecar.pid();
    let dir = tempfile::tempdir().unwrap();
    let rss = || status_kib(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;

    eprintln!("warm-up: {rate}/s for {warmup} s");
    let mut received = Received::default();
    let warm = send(port, "warm", rate, warmup, &dir.path().join("warm"));
    received.wait(&gajim, "warm", warm.ok, Duration::from_secs(30));
    // Settled: nothing queued anywhere any more.
    std::thread::sleep(Duration::from_secs(3));
    received.drain(&gajim);
    let rss_start = rss();
    let hwm_start = status_kib(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;
    let cpu_start = cpu_seconds(pid);

    eprintln!("run: {rate}/s for {seconds} s (RSS {rss_start:.1} MiB)");
    let started = Instant::now();
    let run_dir = dir.path().join("run");
    let sender = std::thread::spawn(move || send(port, "load", rate, seconds, &run_dir));
    let mut rss_samples = vec![rss_start];
    let mut backlog_max = 0i64;
    while !sender.is_finished() {
        std::thread::sleep(Duration::from_secs(1));
        received.drain(&gajim);
        rss_samples.push(rss());
        if rss_samples.len() % 5 == 1 {
            eprintln!(
                "  {:>3} s: RSS {:.1} MiB, {} notes received",
                rss_samples.len() - 1,
                rss_samples.last().unwrap(),
                received.count("load")
            );
        }
        // Sent so far (by the schedule) minus received: how far behind.
        let due =
            (started.elapsed().as_secs_f64() * f64::from(rate)).min(f64::from(rate * seconds));
        backlog_max = backlog_max.max(due as i64 - received.count("load") as i64);
    }
    let sent = sender.join().unwrap();
    let sending_took = started.elapsed();
    let cpu_run = cpu_seconds(pid) - cpu_start;
    let last_note = received.wait(&gajim, "load", sent.ok, Duration::from_secs(60));
    let drained_after = last_note.saturating_duration_since(started + sending_took);
    std::thread::sleep(Duration::from_secs(3));
    received.drain(&gajim);
    let rss_end = rss();
    let hwm_end = status_kib(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;

    let got = received.count("load");
    let duplicates: u32 = received
        .notes
        .iter()
        .filter(|((t, _), _)| t == "load")
        .map(|(_, (_, copies))| copies - 1)
        .sum();
    let mut latency: Vec<f64> = received
        .notes
        .iter()
        .filter(|((t, _), _)| t == "load")
        .map(|(_, (ms, _))| *ms)
        .collect();
    latency.sort_by(|a, b| a.total_cmp(b));
    let lost = sent.ok.saturating_sub(got);
    let growth = rss_end - rss_start;
    let rss_peak = rss_samples.iter().copied().fold(0.0, f64::max);

    println!(
        "\nsip_chat_sustained: {rate} MESSAGE/s for {seconds} s (after {warmup} s of warm-up)"
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| MESSAGEs sipp sent (calls created) | {} |", sent.created);
    println!("| answered 2xx | {} |", sent.ok);
    println!("| failed (non-2xx or timeout) | {} |", sent.failed);
    println!("| sipp retransmissions | {} |", sent.retransmissions);
    println!("| sipp exit | {} |", sent.exit);
    println!(
        "| sipp's run, to the last answer (target {seconds} s) | {:.1} s ({:.1} MESSAGE/s by sipp's count) |",
        sending_took.as_secs_f64(),
        sent.call_rate
    );
    println!("| notes received at the client | {got} |");
    println!("| lost (2xx but never received) | {lost} |");
    println!("| duplicates at the client | {duplicates} |");
    println!(
        "| other messages at the client | {} |",
        received.other.len()
    );
    println!(
        "| MESSAGE → 2xx (sipp) p50 / p99 | {:.1} / {:.1} ms |",
        percentile(&sent.rtt_ms, 0.5),
        percentile(&sent.rtt_ms, 0.99)
    );
    println!(
        "| MESSAGE sent → note at the client p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        percentile(&latency, 0.5),
        percentile(&latency, 0.99),
        latency.last().copied().unwrap_or(f64::NAN)
    );
    println!("| most notes behind the schedule (1 s samples) | {backlog_max} |");
    println!(
        "| last note after sipp finished | {:.1} s |",
        drained_after.as_secs_f64()
    );
    println!(
        "| tandem CPU during the run | {:.0} % of one core |",
        cpu_run / sending_took.as_secs_f64() * 100.0
    );
    println!(
        "| tandem RSS after warm-up → end | {rss_start:.1} → {rss_end:.1} MiB ({growth:+.1} MiB) |"
    );
    println!("| tandem RSS peak (1 s samples) / VmHWM before → after | {rss_peak:.1} MiB / {hwm_start:.1} → {hwm_end:.1} MiB |");
    if let Some(first) = received.other.first() {
        println!("first other message: {first:?}");
    }
    // MiB as the kernel counts (KiB / 1024); 5 MB = 4.77 MiB.
    let ok = lost == 0 && sent.failed == 0 && growth <= 5e6 / 1048576.0;
    println!(
        "\nrequirement (0 lost, RSS growth ≤ 5 MB): {}",
        if ok { "met" } else { "NOT met" }
    );
    if !ok {
        std::process::exit(1);
    }
}
