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
