//! Transactions as RFC 3261 §17 says: a final answer sent over UDP comes
//! again until it is acknowledged, and the transaction then ends.

use crate::scenario;
use std::path::Path;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

/// One message in sipp's `-trace_msg` file: when, whether sipp sent it,
/// and its first line.
struct Traced {
    at: f64,
    sent: bool,
    first_line: String,
}

/// The messages of sipp's `-trace_msg` file in `dir`, in order. Times are
/// seconds since midnight (a run that crosses midnight goes on counting).
fn trace(dir: &Path) -> Vec<Traced> {
    let text: String = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let mut traced = Vec::new();
    let mut lines = text.lines();
    let mut last = 0.0;
    let mut days = 0.0;
    while let Some(line) = lines.next() {
        // "----------------------------------------------- 2026-12-06 19:07:42.658188"
        let Some(stamp) = line
            .strip_prefix("---")
            .and_then(|l| l.split_whitespace().nth(2))
        else {
            continue;
        };
        let mut parts = stamp.split(':').map(|p| p.parse::<f64>().unwrap());
        let (h, m, s) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let mut at = h * 3600.0 + m * 60.0 + s + days;
        if at < last {
            days += 86400.0;
            at += 86400.0;
        }
        last = at;
        let direction = lines.next().unwrap_or_default();
        // A sent message has a blank line before it, a received one not.
        let first_line = lines
            .by_ref()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_end()
            .to_owned();
        traced.push(Traced {
            at,
            sent: direction.contains("message sent"),
            first_line,
        });
    }
    traced
}

/// When each response starting `SIP/2.0 {code}` arrived.
fn arrivals(trace: &[Traced], code: u16) -> Vec<f64> {
    let prefix = format!("SIP/2.0 {code} ");
    trace
        .iter()
        .filter(|t| !t.sent && t.first_line.starts_with(&prefix))
        .map(|t| t.at)
        .collect()
}

/// An INVITE refused at once (no ringing first) leaves a server
/// transaction waiting for its ACK: over UDP its answer comes again at
/// doubling intervals (Timer G) until the ACK, or until Timer H gives up,
/// and then the transaction ends. It used to be sent once and never end.
#[test]
fn an_invite_refused_at_once_is_answered_again_until_its_ack() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    // A caller that never ACKs its 488, and beside it one that ACKs its 420.
    let silent_dir = tempfile::tempdir().unwrap();
    let silent_args = sipp_args("invite_refused_no_ack.xml", &target);
    let silent = sipp::Background::start(&strs(&silent_args), silent_dir.path());
    let acking_dir = tempfile::tempdir().unwrap();
    let acking_args = sipp_args("invite_refused_ack.xml", &target);
    sipp::run_ok(&strs(&acking_args), acking_dir.path());
    silent.wait_ok(silent_dir.path());

    // The ACK stopped the 420's copies (sipp would have ACKed each again).
    let acked = trace(acking_dir.path());
    let ack_at = acked
        .iter()
        .find(|t| t.sent && t.first_line.starts_with("ACK "))
        .map(|t| t.at)
        .expect("sipp sent its ACK");
    let copies_after_ack = arrivals(&acked, 420)
        .into_iter()
        .filter(|&at| at > ack_at)
        .count();
    assert_eq!(copies_after_ack, 0, "the 420 came again after its ACK");

    // Without an ACK the 488 came again, each interval twice the last
    // (T1, 2*T1, 4*T1 while below T2), as ratios: never absolute times.
    let copies = arrivals(&trace(silent_dir.path()), 488);
    assert!(
        copies.len() >= 4,
        "the 488 came {} times in sipp's watch, not 1 + 3 retransmissions: {copies:?}",
        copies.len()
    );
    let intervals: Vec<f64> = copies.windows(2).map(|w| w[1] - w[0]).collect();
    for pair in intervals.windows(2).take(2) {
        let ratio = pair[1] / pair[0];
        assert!(
            (1.5..=2.5).contains(&ratio),
            "Timer G doubles its interval: {intervals:?}"
        );
    }

    // Timer H (64*T1) ends the unacknowledged one; by then the ACKed one
    // has ended too (Timer I), so none is left open. Waited for without a
    // deadline of its own: 64*T1 is longer than the log helpers wait.
    let ended = "no ACK for the 488 Not Acceptable Here refusing INVITE";
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !tandem.log().contains(ended) {
        assert!(
            std::time::Instant::now() < give_up,
            "no {ended:?}: {}",
            tandem.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = tandem.log();
    let line = log.lines().find(|l| l.contains(ended)).unwrap();
    assert!(
        line.contains("(1 so far; 0 refused INVITEs still wait for theirs)"),
        "{line}"
    );
    assert!(
        !log.contains("SIP sip.call.incoming"),
        "a refusal is no call: {log}"
    );
}

/// sipp playing `name` once to `target` from a port of its own, tracing
/// every message with its time.
fn sipp_args(name: &str, target: &str) -> Vec<String> {
    let port = sipp::free_udp_port().to_string();
    let args = [
        "-sf",
        &scenario(name),
        "-m",
        "1",
        "-p",
        &port,
        "-trace_msg",
        target,
    ];
    args.iter().map(|a| a.to_string()).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A copy of an INVITE that comes after its ACK, and a CANCEL after the
/// INVITE's 200 (`late_copies_uac.xml`): the copy is absorbed (RFC 6026
/// §7.1: no answer, no second call), the CANCEL gets 200 (RFC 3261 §9.2),
/// both from what the stack keeps of the finished transaction (decision
/// 0071).
#[test]
fn late_copies_and_a_late_cancel_get_the_same_answers() {
    let tandem = Sidecar::start_sip(crate::AUTO_ANSWER, &["auto-answer"]);
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    let dir = tempfile::tempdir().unwrap();
    let args = sipp_args("late_copies_uac.xml", &target);
    sipp::run_ok(&strs(&args), dir.path());
    let traced = trace(dir.path());
    let oks = arrivals(&traced, 200);
    assert_eq!(
        oks.len(),
        3,
        "INVITE, CANCEL and BYE answered 200, the INVITE's copy after its ACK absorbed"
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    assert_eq!(
        log.matches("SIP sip.call.incoming").count(),
        1,
        "the INVITE's copy made a second call: {log}"
    );
}

/// A copy of a BYE that comes after its 200 (`late_bye_copy_uac.xml`), over
/// UDP: the 200 comes again (RFC 3261 §17.2.2, Timer J), from what the
/// stack keeps of the finished transaction (decision 0071).
#[test]
fn a_late_copy_of_a_bye_gets_its_200_again() {
    let tandem = Sidecar::start_sip(crate::AUTO_ANSWER, &["auto-answer"]);
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    let dir = tempfile::tempdir().unwrap();
    let args = sipp_args("late_bye_copy_uac.xml", &target);
    sipp::run_ok(&strs(&args), dir.path());
    let traced = trace(dir.path());
    let oks = arrivals(&traced, 200);
    assert_eq!(
        oks.len(),
        4,
        "INVITE, BYE, OPTIONS and the BYE's copy answered 200"
    );
    tandem.wait_for("SIP sip.call.ended");
}
