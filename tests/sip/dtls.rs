//! DTLS-SRTP (RFC 5763/5764) against baresip's `dtls_srtp` module, both
//! ways: the handshake runs on the media path (through the relay that
//! keeps the packets), each side hears the other's tone, and the RTP on
//! the wire is encrypted: the SDES tests' checks, keys from DTLS instead.

use crate::srtp::{talk_and_check_encrypted, tandem};
use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::relay::MediaRelay;

/// The call was DTLS-SRTP on Tandem's side: its offer or answer carried
/// the fingerprint, and the handshake finished before any audio.
fn assert_dtls(tandem: &tandem_tests::sidecar::Sidecar) {
    let log = tandem.log();
    assert!(log.contains("media encrypted: DTLS-SRTP"), "{log}");
    assert!(
        !log.contains("a=crypto"),
        "SDES keys in a DTLS call:\n{log}"
    );
}

#[test]
fn baresip_calls_tandem_over_dtls_srtp() {
    let records = tempfile::tempdir().unwrap();
    let relay = MediaRelay::start();
    // "sdes" answers a DTLS-SRTP offer too.
    let tandem = tandem("sdes", &relay, records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    // baresip offers UDP/TLS/RTP/SAVP, a=setup:actpass: Tandem is active.
    let baresip =
        Baresip::start_extended(1000.0, Some(&uri), &["dtls_srtp"], ";mediaenc=dtls_srtp");
    talk_and_check_encrypted(&tandem, &baresip, &relay, records.path());
    assert_dtls(&tandem);
}

#[test]
fn tandem_calls_baresip_over_dtls_srtp() {
    let records = tempfile::tempdir().unwrap();
    let relay = MediaRelay::start();
    let tandem = tandem("dtls-required", &relay, records.path());
    let baresip = Baresip::start_extended(1000.0, None, &["dtls_srtp"], ";mediaenc=dtls_srtp");
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{}", baresip.port) }),
        )
        .unwrap();
    talk_and_check_encrypted(&tandem, &baresip, &relay, records.path());
    assert_dtls(&tandem);
}
