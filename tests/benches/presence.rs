//! Presence latency and burst rate, Tandem's XMPP plugin against slixmpp,
//! side by side in one run on one throwaway Prosody.
//!
//! `cargo bench -p tandem-tests --bench presence` (TANDEM_BENCH_N changes
//! each, default 1000). Latency: from `xmpp.set_presence` called on the
//! host's bus (Tandem), or slixmpp starting to build its presence, to the
//! stanza seen by a watching slixmpp client, all on one clock: each sender
//! is timed from being asked, its own work included. The row "slixmpp,
//! from send() returning" is the figure this bench gave until 2026-11-24,
//! whose clock started after slixmpp had built and queued the stanza. The
//! two senders alternate change by change, so both see the same machine
//! load.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tandem::bus;
use tandem_sdk::Payload;
use tandem_tests::measure::{env_or, percentile, wall_clock};
use tandem_tests::prosody::Prosody;
use tandem_tests::xmpp_client::XmppClient;

fn main() {
    // `cargo bench` passes flags such as `--bench`; nothing to parse.
    let n: usize = env_or("TANDEM_BENCH_N", 1000);
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let bob = server.register("bob", "bob-secret");
    let mut slix = XmppClient::login(&server, &alice, "alice-secret", "slix", 0);
    let mut watcher = XmppClient::login(&server, &bob, "bob-secret", "watch", 0);
    slix.send(json!({"subscribe": bob}));
    watcher.send(json!({"subscribe": alice}));
    watcher.wait_for("alice", |e| e["from"] == "alice@localhost/slix");

    // The sidecar in this process, so the clock starts at the bus call.
    let dir = tempfile::tempdir().unwrap();
    let plugins = tandem_tests::plugin_folder(&["tandem_plugin_xmpp"]);
    tandem_tests::write(dir.path(), "password", "alice-secret");
    let config = tandem_tests::write(
        dir.path(),
        "tandem.toml",
        &format!(
            "[host]\nplugin_dirs = [{:?}]\ndefault_plugin_dirs = false\nscript_dirs = []\n[log]\nlevel = \"warn\"\n[plugins.xmpp]\njid = {alice:?}\npassword_file = \"password\"\nhost = \"127.0.0.1\"\nport = {}\n",
            plugins.path().display().to_string(),
            server.port
        ),
    );
    std::env::set_var("SSL_CERT_FILE", server.ca());
    let daemon = tandem_tests::in_process_daemon(&config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let set_presence = |status: String| {
        rt.block_on(bus::call(
            &daemon.bus,
            "xmpp.set_presence",
            Payload::from(json!({"status": status, "priority": 0})),
            Duration::from_secs(5),
        ))
        .unwrap();
    };
    watcher.wait_for("the sidecar", |e| e["from"] == "alice@localhost/tandem");

    let fast = Duration::from_millis(1);
    let within = Duration::from_secs(10);
    let (mut tandem_ms, mut slix_ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut slix_queued_ms = Vec::with_capacity(n);
    for i in 0..n {
        let status = format!("t-{i}");
        let sent = wall_clock();
        set_presence(status.clone());
        let seen = watcher.wait_for_within("tandem's change", within, fast, |e| {
            e["from"] == "alice@localhost/tandem" && e["status"] == status.as_str()
        });
        tandem_ms.push((seen["t"].as_f64().unwrap() - sent) * 1e3);

        let status = format!("s-{i}");
        slix.send(json!({"presence": {"status": status}}));
        let sent = slix.wait_for_within("slixmpp's send", within, fast, |e| {
            e["event"] == "presence_sent" && e["status"] == status.as_str()
        });
        let seen = watcher.wait_for_within("slixmpp's change", within, fast, |e| {
            e["from"] == "alice@localhost/slix" && e["status"] == status.as_str()
        });
        let seen = seen["t"].as_f64().unwrap();
        slix_ms.push((seen - sent["asked"].as_f64().unwrap()) * 1e3);
        slix_queued_ms.push((seen - sent["t"].as_f64().unwrap()) * 1e3);
        if i % 100 == 99 {
            watcher.clear();
            slix.clear();
            eprintln!("{} of {n} changes", i + 1);
        }
    }

    // Bursts: n changes as fast as each sender goes, until the watcher has the last.
    let started = Instant::now();
    let t0 = wall_clock();
    for i in 0..n {
        set_presence(format!("b-{i}"));
    }
    let last = format!("b-{}", n - 1);
    let seen = watcher.wait_for_within("tandem's burst", Duration::from_secs(60), fast, |e| {
        e["from"] == "alice@localhost/tandem" && e["status"] == last.as_str()
    });
    let tandem_rate = n as f64 / (seen["t"].as_f64().unwrap() - t0);
    let _ = started;
    slix.send(json!({"presence_burst": n}));
    let start = slix.wait_for_within("burst start", within, fast, |e| e["event"] == "burst_start");
    let seen = watcher.wait_for_within("slixmpp's burst", Duration::from_secs(60), fast, |e| {
        e["from"] == "alice@localhost/slix" && e["status"] == last.as_str()
    });
    let slix_rate = n as f64 / (seen["t"].as_f64().unwrap() - start["t"].as_f64().unwrap());

    for v in [&mut tandem_ms, &mut slix_ms, &mut slix_queued_ms] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    let row = |name: &str, v: &[f64], rate: f64| -> Value {
        json!({"sender": name, "p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99), "burst_per_s": rate})
    };
    println!("presence latency over {n} changes each (watcher: slixmpp), and burst rate:");
    println!("| sender | p50 | p99 | burst |");
    println!("|---|---|---|---|");
    for (name, v, rate) in [
        ("tandem xmpp plugin", &tandem_ms, tandem_rate),
        ("slixmpp", &slix_ms, slix_rate),
        ("slixmpp, from send() returning", &slix_queued_ms, slix_rate),
    ] {
        let r = row(name, v, rate);
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.0} changes/s |",
            r["p50_ms"].as_f64().unwrap(),
            r["p99_ms"].as_f64().unwrap(),
            rate
        );
    }
    daemon.shutdown();
}
