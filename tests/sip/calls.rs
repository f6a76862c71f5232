//! Call set-up and tear-down with sipp: who hangs up, ringing, and
//! callees that cannot be reached (refused at once, with the reason).

use crate::AUTO_ANSWER;
use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

#[test]
fn sipp_calls_and_the_auto_answer_rule_picks_up() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sn",
            "uac",
            "-m",
            "1",
            "-d",
            "500",
            "-s",
            "bob",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    let incoming = event_line(&log, "sip.call.incoming");
    assert!(
        field(&incoming, "peer").starts_with("sip:sipp@127.0.0.1"),
        "{incoming}"
    );
    assert!(log.contains("SIP sip.call.answered"), "{log}");
    let ended = event_line(&log, "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    assert_eq!(field(&ended, "call"), field(&incoming, "call"));
}

#[test]
fn tandem_calls_sipp_and_hangs_up() {
    let tandem = Sidecar::start_sip("", &[]);
    let dir = tempfile::tempdir().unwrap();
    let (uas, call) = crate::call_sipp_uas(&tandem, dir.path());
    let id = call["call"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{call}");
    let log = tandem.wait_for("SIP sip.call.answered");
    assert!(
        log.contains("SIP sip.call.ringing"),
        "sipp's uas sends 180 first:\n{log}"
    );
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    uas.wait_ok(dir.path());
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
    assert!(
        field(&ended, "tx").parse::<u64>().unwrap() > 0,
        "we sent RTP: {ended}"
    );
}

#[test]
fn a_peer_that_goes_silent_without_a_bye_is_hung_up() {
    // sipp's uas answers and sends no RTP at all: a vanished peer.
    let tandem = Sidecar::start_sip("media_timeout_seconds = 1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let (uas, _) = crate::call_sipp_uas(&tandem, dir.path());
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "media_timeout", "{ended}");
    assert!(tandem.log().contains("nothing from the peer for 1 s"));
    // The BYE went out: sipp's uas completes its one call.
    uas.wait_ok(dir.path());
}

#[test]
fn hanging_up_a_call_still_ringing_in_declines_it_busy() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let incoming = event_line(
        &tandem.wait_for("SIP sip.call.incoming"),
        "sip.call.incoming",
    );
    tandem
        .call("sip.hangup", json!({ "call": field(&incoming, "call") }))
        .unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(
        (field(&ended, "reason"), field(&ended, "code")),
        ("rejected", "486"),
        "{ended}"
    );
    baresip.wait_for("486 Busy Here");
}

#[test]
fn a_callee_whose_domain_does_not_resolve_is_refused_at_once_with_the_reason() {
    // Before the INVITE: without the lookup, rsipstack's transaction
    // swallowed the failure and the call ended 32 s later as a 408.
    // `.invalid` (RFC 6761) never resolves, and asks no DNS server.
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let err = tandem
        .call("sip.call", json!({ "to": "sip:bob@nowhere.invalid" }))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot reach sip:bob@nowhere.invalid over UDP")
            && err.contains("nowhere.invalid"),
        "{err}"
    );
    assert!(!tandem.log().contains("SIP sip.call.ended"));
}

#[test]
fn a_udp_callee_without_a_udp_transport_is_refused_at_once() {
    // An address as much as a domain: the address once went out with a
    // call id, and the call ended 32 s later as a 408.
    let tandem = Sidecar::start_sip("user = \"alice\"\ntransports = [\"tcp\"]", &[]);
    for to in ["sip:bob@127.0.0.1:9", "sip:bob@localhost"] {
        let err = tandem
            .call("sip.call", json!({ "to": to }))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("cannot reach {to} over UDP")),
            "{err}"
        );
    }
    assert!(!tandem.log().contains("SIP sip.call"));
}

#[test]
fn a_call_to_a_udp_port_where_nothing_listens_fails_at_once_as_a_503() {
    // The callee's kernel answers ICMP "port unreachable"; RFC 3261 §8.1.3.1
    // makes that a 503. Without IP_RECVERR the socket never heard it, and
    // the call ended as a 408 when Timer B fired 32 s later.
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let closed = sipp::free_udp_port();
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{closed}") }),
        )
        .unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(
        (field(&ended, "reason"), field(&ended, "code")),
        ("failed", "503"),
        "{ended}"
    );
    assert!(
        tandem.log().contains("127.0.0.1 answered ICMP"),
        "{}",
        tandem.log()
    );
}

/// `tandem ctl calls` as the user reads it: a call ringing now, then the
/// recent calls, newest first: one answered (the peer hung up) and one
/// missed, each with the caller's name, from the SIP plugin's one list,
/// and the same after a restart.
#[test]
fn ctl_calls_lists_the_call_now_then_answered_and_missed_calls() {
    let mut tandem = Sidecar::start_sip("ring_timeout_seconds = 1", &[]);
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    let config = tandem.config();
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(tandem_tests::tandem_bin())
            .arg("ctl")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ctl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(ctl(&["calls"]), "no calls now\nno recent calls\n");

    // sipp calls and hangs up half a second after the answer.
    let dir = tempfile::tempdir().unwrap();
    let media = sipp::free_udp_port().to_string();
    let answered = sipp::Background::start(
        &["-sn", "uac", "-m", "1", "-d", "500", "-mp", &media, &target],
        dir.path(),
    );
    tandem.wait_for("SIP sip.call.incoming");
    let now = ctl(&["calls"]);
    assert!(
        now.starts_with("NOW\n  ringing  sipp <sip:sipp@127.0.0.1"),
        "{now}"
    );
    ctl(&["answer"]);
    answered.wait_ok(dir.path());
    tandem.wait_for("SIP sip.call.ended");

    // Nobody answers this one: it rings out (ring_timeout_seconds = 1).
    let missed_dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sf",
            &crate::scenario("invite_unanswered_uac.xml"),
            "-m",
            "1",
            &target,
        ],
        missed_dir.path(),
    );
    tandem.wait_for_n("SIP sip.call.ended", 2);

    let text = ctl(&["calls"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "no calls now", "{text}");
    assert!(lines[1].starts_with("WHEN"), "{text}");
    assert!(
        lines[2].contains(" missed   sipp <sip:sipp@127.0.0.1")
            && lines[2].ends_with("-  nobody answered"),
        "{text}"
    );
    assert!(
        lines[3].contains(" in       sipp <sip:sipp@127.0.0.1")
            && lines[3].ends_with("they hung up")
            && lines[3].contains(" 0:0"),
        "{text}"
    );

    let json: serde_json::Value = serde_json::from_str(&ctl(&["--json", "calls"])).unwrap();
    assert_eq!(json["now"], json!([]), "{json}");
    let recent = json["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2, "{json}");
    assert_eq!(
        (&recent[0]["reason"], &recent[1]["reason"]),
        (&json!("missed"), &json!("remote_hangup")),
        "{json}"
    );
    assert_eq!(recent[1]["display_name"], "sipp", "{json}");
    assert!(recent[1]["duration"].as_f64().unwrap() > 0.0, "{json}");
    assert!(
        recent[0]["started"].as_u64() >= recent[1]["started"].as_u64(),
        "newest first: {json}"
    );

    // A restart forgets no call: the list is kept on disk.
    let listeners = tandem.log().matches("listening on ").count();
    tandem.restart();
    tandem.wait_for_n("listening on ", 2 * listeners);
    assert_eq!(ctl(&["calls"]), text, "after a restart");
}
