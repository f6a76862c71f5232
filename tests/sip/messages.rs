//! SIP MESSAGE both ways, and one that cannot be delivered.

use crate::scenario;
use serde_json::json;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

#[test]
fn message_both_ways_keeps_the_content_type() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sf",
            &scenario("message_uac.xml"),
            "-m",
            "1",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
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
