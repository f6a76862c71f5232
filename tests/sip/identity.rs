//! REQ-2: SIP carries the user's XMPP address (`Call-Info` with
//! `purpose=impp`, RFC 6993) and an RFC 7989 `Session-ID`, both ways.

use crate::{scenario, sipp_calls, AUTO_ANSWER};
use serde_json::json;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

const IMPP: &str = "impp = \"xmpp:alice@example.org\"\n";

/// A caller naming its XMPP address: the event carries the claim, and
/// Tandem's 200 announces the user's address and echoes the caller's
/// Session-ID (sipp checks both headers).
#[test]
fn an_answered_call_names_both_xmpp_addresses_and_both_session_ids() {
    let tandem = Sidecar::start_sip(&format!("{IMPP}{AUTO_ANSWER}"), &["auto-answer"]);
    let dir = tempfile::tempdir().unwrap();
    sipp_calls(&tandem, &["-sf", &scenario("impp_uac.xml")], dir.path());
    let log = tandem.wait_for("SIP sip.call.incoming");
    let line = event_line(&log, "sip.call.incoming");
    assert_eq!(field(&line, "impp"), "xmpp:bob@example.org", "{line}");
}

/// Tandem's own INVITE announces the user's XMPP address, set by
/// `sip.set_impp` (what share-xmpp-address.lua does at login), and a fresh
/// Session-ID; a malformed address is refused.
#[test]
fn an_outgoing_call_announces_the_address_a_rule_set() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let err = tandem
        .call("sip.set_impp", json!({ "address": "alice@example.org" }))
        .unwrap_err();
    assert!(err.contains("not an XMPP address"), "{err}");
    tandem
        .call(
            "sip.set_impp",
            json!({ "address": "xmpp:alice@example.org" }),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let peer_port = sipp::free_udp_port().to_string();
    let callee = sipp::Background::once("impp_uas.xml", &peer_port, dir.path());
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{peer_port}") }),
        )
        .unwrap();
    callee.wait_ok(dir.path());
}
