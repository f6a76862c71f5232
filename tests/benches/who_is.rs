//! Who is calling: resolving an incoming INVITE's caller to a roster
//! contact (issue 21), with 5,000 roster contacts each publishing a SIP
//! address (XEP-0152 reach). The target is ≤ 20 µs at p99: an index, not
//! a scan of the roster.
//!
//! `cargo bench -p tandem-tests --bench who_is` (TANDEM_BENCH_CONTACTS,
//! default 5000; TANDEM_BENCH_N lookups, default 200000). Each lookup is
//! the XMPP plugin's own `xmpp.who_is` work on the session's state: the
//! caller's From normalised (RFC 3261 §19.1.4), one hash probe, the
//! answer built. Callers are contacts spelled as a phone would (host case,
//! `transport`), strangers, and an address two contacts share. Timed one
//! by one on the monotonic clock (its own cost, some 20 ns here, included).

use std::time::Instant;

use tandem_plugin_xmpp::CallerIndex;
use tandem_sdk::commands::xmpp::WhoIs;
use tandem_tests::measure::{env_or, percentile};

fn main() {
    let contacts: usize = env_or("TANDEM_BENCH_CONTACTS", 5000);
    let n: usize = env_or("TANDEM_BENCH_N", 200_000);
    let people: Vec<(String, String, String)> = (0..contacts)
        .map(|i| {
            (
                format!("c{i}@example.org"),
                format!("Contact {i}"),
                // The last two share a desk phone: bound to neither.
                if i + 2 >= contacts {
                    "sip:desk@sip.example.org".to_owned()
                } else {
                    format!("sip:+1555{i:07}@sip.example.org")
                },
            )
        })
        .collect();
    let built = Instant::now();
    let index = CallerIndex::new(
        "alice@example.org",
        people
            .iter()
            .map(|(j, n, u)| (j.as_str(), n.as_str(), u.as_str())),
    );
    let build_ms = built.elapsed().as_secs_f64() * 1e3;
    // What arrives: mostly contacts, some strangers and the shared line.
    let callers: Vec<WhoIs> = (0..1024)
        .map(|k| {
            let i = (k * 7919) % contacts;
            let uri = match k % 8 {
                0 => format!("sip:+1555{i:07}@SIP.Example.org;transport=tcp"),
                1 => format!("sip:stranger{k}@elsewhere.example"),
                2 => "sip:desk@sip.example.org".to_owned(),
                _ => format!("sip:+1555{i:07}@sip.example.org"),
            };
            WhoIs {
                uri,
                vouched: k % 3 != 0,
                claimed: (k % 5 == 0).then(|| "xmpp:bob@example.org".to_owned()),
            }
        })
        .collect();
    let mut verified = 0usize;
    for caller in &callers {
        verified += usize::from(index.who_is(caller).verified);
    }
    let mut micros = Vec::with_capacity(n);
    for k in 0..n {
        let caller = &callers[k % callers.len()];
        let start = Instant::now();
        let answer = index.who_is(caller);
        let took = start.elapsed();
        std::hint::black_box(answer);
        micros.push(took.as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    println!(
        "who_is: {contacts} contacts (index built in {build_ms:.1} ms), {n} lookups, \
         {verified}/{} callers verified",
        callers.len()
    );
    println!(
        "  p50 {:.2} µs  p99 {:.2} µs  p99.9 {:.2} µs  max {:.1} µs",
        percentile(&micros, 0.50),
        percentile(&micros, 0.99),
        percentile(&micros, 0.999),
        micros[n - 1]
    );
    let p99 = percentile(&micros, 0.99);
    assert!(p99 <= 20.0, "p99 {p99:.2} µs is over the 20 µs target");
}
