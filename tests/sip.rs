//! The SIP plugin against real peers on loopback: sipp's own scenarios and
//! baresip, each started by the test.

use serde_json::json;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

const AUTO_ANSWER: &str = "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n";

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or("")
}

/// The log line of the first `topic` event.
fn event_line(log: &str, topic: &str) -> String {
    log.lines()
        .find(|l| l.contains(&format!("SIP {topic} ")))
        .unwrap_or_default()
        .to_owned()
}

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
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::start(&["-sn", "uas", "-m", "1", "-p", &port], dir.path());
    let call = tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:service@127.0.0.1:{port}") }),
        )
        .unwrap();
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
fn audio_and_dtmf_from_sipp_are_received_and_counted() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    // sipp's uac_pcap plays pcap/g711a.pcap (8 s of A-law) then an RFC 4733
    // "1" from pcap/dtmf_2833_1.pcap; sipp needs raw sockets (root) for it.
    std::fs::create_dir(dir.path().join("pcap")).unwrap();
    for file in ["g711a.pcap", "dtmf_2833_1.pcap"] {
        std::os::unix::fs::symlink(
            format!("/usr/share/sip-tester/{file}"),
            dir.path().join("pcap").join(file),
        )
        .unwrap();
    }
    let media_port = sipp::free_udp_port().to_string();
    sipp::run_ok(
        &[
            "-sn",
            "uac_pcap",
            "-m",
            "1",
            "-mp",
            &media_port,
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    let ended = event_line(&log, "sip.call.ended");
    // Every packet of the two captures: 236 of audio, 10 of DTMF.
    assert_eq!(field(&ended, "rx"), "246", "{ended}");
    assert_eq!(field(&ended, "lost"), "0", "{ended}");
    assert_eq!(field(&ended, "dtmf"), "1", "{ended}");
    assert!(
        log.contains("SIP sip.dtmf") && log.contains("digit=1"),
        "{log}"
    );
}
