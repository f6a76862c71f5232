//! SIP MESSAGE both ways, and one that cannot be delivered.

use crate::{scenario, sipp_calls, AUTO_ANSWER};
use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

/// sipp plays `scenario` (a file in `tests/sipp/`) once against `tandem`,
/// and must finish as the scenario says.
fn sipp_sends(tandem: &Sidecar, scenario_file: &str, dir: &std::path::Path) {
    let to = format!("127.0.0.1:{}", tandem.sip_port());
    sipp::run_ok(&["-sf", &scenario(scenario_file), "-m", "1", &to], dir);
}

#[test]
fn message_both_ways_keeps_the_content_type() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let dir = tempfile::tempdir().unwrap();
    sipp_sends(&tandem, "message_uac.xml", dir.path());
    let log = tandem.wait_for("SIP sip.message");
    let line = event_line(&log, "sip.message");
    assert_eq!(
        field(&line, "type"),
        "application/im-iscomposing+xml",
        "{line}"
    );
    assert!(line.contains("<state>active</state>"), "{line}");

    let peer_port = sipp::free_udp_port().to_string();
    let receiver = sipp::Background::once("message_uas.xml", &peer_port, dir.path());
    let sent = tandem
        .call(
            "sip.send_message",
            json!({ "to": format!("sip:bob@127.0.0.1:{peer_port}"), "body": "hello from tandem" }),
        )
        .unwrap();
    assert_eq!(sent["code"], 200, "{sent}");
    receiver.wait_ok(dir.path());
}

#[test]
fn a_message_to_a_udp_port_where_nothing_listens_fails_with_the_reason() {
    // As for a call: without the ICMP report the MESSAGE transaction ran
    // until Timer F (32 s), and the command's caller got only "timeout".
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let closed = sipp::free_udp_port();
    let err = tandem
        .call(
            "sip.send_message",
            json!({ "to": format!("sip:bob@127.0.0.1:{closed}"), "body": "hi" }),
        )
        .unwrap_err();
    assert!(
        err.contains("cannot reach") && err.contains("127.0.0.1 answered ICMP"),
        "{err}"
    );
}

/// sipp calls, and within the call sends a MESSAGE, an INFO with DTMF, an
/// INFO of its own type and a MESSAGE whose body is not UTF-8, then hangs
/// up: each reaches the rules as an event naming the call.
#[test]
fn message_and_info_within_a_call_reach_the_rules() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let dir = tempfile::tempdir().unwrap();
    sipp_calls(
        &tandem,
        &["-sf", &scenario("in_dialog_uac.xml")],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    let call = field(&event_line(&log, "sip.call.incoming"), "call").to_owned();
    assert_eq!(call.len(), 32, "{log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("call={call} ")))
        .collect();
    let of = |topic: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.contains(&format!("SIP {topic} ")))
            .collect()
    };
    let messages = of("sip.message");
    assert_eq!(messages.len(), 2, "{log}");
    assert!(
        messages[0].contains(" type=text/plain;charset=UTF-8 body=hello during the call"),
        "{}",
        messages[0]
    );
    assert_eq!(field(messages[0], "b64"), "nil", "{}", messages[0]);
    assert!(
        field(messages[0], "peer").starts_with("sip:sipp@127.0.0.1"),
        "{}",
        messages[0]
    );
    // "caf", 0xE9 0xFF 0x80, "!", CRLF: not UTF-8, so in base64, byte for byte.
    assert_eq!(
        field(messages[1], "b64"),
        BINARY_BODY_BASE64,
        "{}",
        messages[1]
    );
    assert_eq!(field(messages[1], "type"), "application/octet-stream");
    let dtmf = of("sip.dtmf");
    assert_eq!(dtmf.len(), 1, "{log}");
    assert_eq!(field(dtmf[0], "digit"), "7", "{}", dtmf[0]);
    let info = of("sip.call.info");
    assert_eq!(info.len(), 1, "the DTMF INFO is a sip.dtmf only: {log}");
    assert!(
        info[0].contains(" type=application/x-tandem-test body=ping"),
        "{}",
        info[0]
    );
    let ended = event_line(&log, "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
}

/// The body of `message_binary_uac.xml` and `in_dialog_uac.xml`'s second
/// MESSAGE ("caf", the bytes E9 FF 80 that are not UTF-8, "!", and the
/// CRLF sipp ends a body with), base64.
const BINARY_BODY_BASE64: &str = "Y2Fm6f+AIQ0K";

/// A MESSAGE outside any dialog whose body is not UTF-8 arrives byte-exact
/// (it was mangled by a lossy UTF-8 conversion), its content type as sent.
#[test]
fn a_binary_message_body_arrives_byte_exact() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let dir = tempfile::tempdir().unwrap();
    sipp_sends(&tandem, "message_binary_uac.xml", dir.path());
    let line = event_line(&tandem.wait_for("SIP sip.message"), "sip.message");
    assert_eq!(field(&line, "b64"), BINARY_BODY_BASE64, "{line}");
    assert!(
        line.contains(" type=Application/Octet-Stream; x=1 body= "),
        "{line}"
    );
    assert_eq!(field(&line, "call"), "nil", "outside any dialog: {line}");
}

/// The composing plugin beside the SIP plugin: sipp types (RFC 3994) and
/// then sends its message, and rules hear `composing.peer` composing, then
/// idle; baresip refuses is-composing with 415, and the plugin says so
/// (and, per its unit tests, sends it nothing more).
#[test]
fn typing_is_heard_from_sipp_and_a_415_from_baresip_is_understood() {
    let tandem = Sidecar::start_sip_plugins(
        "user = \"alice\"",
        &[],
        &[],
        &["tandem_plugin_sip", "tandem_plugin_composing"],
    );
    let dir = tempfile::tempdir().unwrap();
    sipp_sends(&tandem, "typing_then_message.xml", dir.path());
    let log = tandem.wait_for("TYPING composing.peer peer=sip:carol@127.0.0.1:");
    let log = if log.contains("state=idle") {
        log
    } else {
        tandem.wait_for("state=idle")
    };
    let typing: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TYPING composing.peer"))
        .map(|l| field(l, "state"))
        .collect();
    assert_eq!(typing, ["composing", "idle"], "{log}");

    let baresip = Baresip::start(1000.0, None);
    let to = format!("sip:bob@127.0.0.1:{}", baresip.port);
    let answer = tandem
        .call(
            "composing.user_typing",
            json!({ "to": to, "state": "composing" }),
        )
        .unwrap();
    assert!(
        answer["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("415"),
        "{answer}"
    );
}

/// Text in ISO-8859-1 reaches the rules decoded; text in a charset Tandem
/// cannot read is refused with 415 and an `Accept` naming UTF-8 (sipp
/// checks both answers), never shown garbled.
#[test]
fn text_in_latin_1_is_decoded_and_an_unreadable_charset_gets_415() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let dir = tempfile::tempdir().unwrap();
    sipp_sends(&tandem, "message_charsets.xml", dir.path());
    let log = tandem.wait_for("SIP sip.message");
    let line = event_line(&log, "sip.message");
    assert!(line.contains("body=café"), "{line}");
    assert_eq!(log.matches("SIP sip.message").count(), 1, "{log}");
}
