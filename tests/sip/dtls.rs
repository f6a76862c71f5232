//! DTLS-SRTP (RFC 5763/5764) against baresip's `dtls_srtp` module, both
//! ways: the handshake runs on the media path (through the relay that
//! keeps the packets), each side hears the other's tone, and the RTP on
//! the wire is encrypted: the SDES tests' checks, keys from DTLS instead.

use crate::srtp::{talk_and_check_encrypted, tandem};
use crate::AUTO_ANSWER;
use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::relay::MediaRelay;
use tandem_tests::sidecar::{event_line, field, nth_event_line, Sidecar};

/// The call was DTLS-SRTP on Tandem's side: its offer or answer carried
/// the fingerprint, and the handshake finished before any audio.
fn assert_dtls(tandem: &tandem_tests::sidecar::Sidecar) {
    let log = tandem.log();
    let line = log
        .lines()
        .find(|l| l.contains("media encrypted: DTLS-SRTP"));
    assert!(line.is_some(), "{log}");
    // The handshakes' time, for `--nocapture`.
    eprintln!("{}", line.unwrap_or_default());
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
    // The forged packets must come after the handshake: before it they are
    // not SRTP yet to Tandem, and are dropped uncounted.
    tandem.wait_for("media encrypted: DTLS-SRTP");
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
    tandem.wait_for("media encrypted: DTLS-SRTP");
    talk_and_check_encrypted(&tandem, &baresip, &relay, records.path());
    assert_dtls(&tandem);
}

/// Stands between two Tandems for SIP over UDP, and when `tamper` is set
/// changes one hex digit of the fingerprint in what the caller sends: the
/// callee then meets a certificate its SDP does not name, as it would a
/// man in the middle of the media.
struct FingerprintTamperer {
    port: u16,
    tamper: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FingerprintTamperer {
    fn start(callee: std::net::SocketAddr) -> FingerprintTamperer {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let tamper = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tampering = tamper.clone();
        std::thread::spawn(move || {
            let mut caller = None;
            let mut buf = [0u8; 8192];
            while let Ok((len, from)) = socket.recv_from(&mut buf) {
                let mut datagram = buf[..len].to_vec();
                let to = if from == callee {
                    caller
                } else {
                    caller = Some(from);
                    if tampering.load(std::sync::atomic::Ordering::Relaxed) {
                        flip_fingerprint(&mut datagram);
                    }
                    Some(callee)
                };
                if let Some(to) = to {
                    socket.send_to(&datagram, to).ok();
                }
            }
        });
        FingerprintTamperer { port, tamper }
    }
}

/// The fingerprint's first hex digit, changed in place (the length, and so
/// Content-Length, stays).
fn flip_fingerprint(datagram: &mut [u8]) {
    let needle = b"a=fingerprint:sha-256 ";
    if let Some(at) = datagram.windows(needle.len()).position(|w| w == needle) {
        let digit = &mut datagram[at + needle.len()];
        *digit = if *digit == b'0' { b'1' } else { b'0' };
    }
}

/// Tandem calls Tandem with DTLS-SRTP through a SIP hop: untouched, both
/// ends agree and talk; with the caller's fingerprint changed on the way,
/// the callee's handshake finds a certificate its SDP does not name, and
/// it hangs up before sending any audio, saying why.
#[test]
fn a_certificate_its_sdp_does_not_name_ends_the_call() {
    let callee = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"tone:440\"\nmedia_encryption = \"dtls\"\n{AUTO_ANSWER}"
        ),
        &["auto-answer"],
    );
    let caller = Sidecar::start_sip(
        "user = \"bob\"\nsource = \"tone:1000\"\nmedia_encryption = \"dtls-required\"\n",
        &[],
    );
    let hop = FingerprintTamperer::start(([127, 0, 0, 1], callee.sip_port()).into());
    let to = json!({ "to": format!("sip:alice@127.0.0.1:{}", hop.port) });

    caller.call("sip.call", to.clone()).unwrap();
    callee.wait_for("media encrypted: DTLS-SRTP");
    caller.wait_for("media encrypted: DTLS-SRTP");
    let answered = event_line(
        &caller.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    let call = field(&answered, "call").to_owned();
    // Hold and resume: the re-INVITEs keep the association and its keys
    // (a new one, or plain RTP, would show as rejected packets).
    for hold in [true, false] {
        std::thread::sleep(std::time::Duration::from_secs(1));
        caller
            .call("sip.hold", json!({ "call": call, "hold": hold }))
            .unwrap();
    }
    caller.wait_for_n("SIP sip.call.held", 2);
    std::thread::sleep(std::time::Duration::from_secs(1));
    caller.call("sip.hangup", json!({ "call": call })).unwrap();
    let ended = event_line(&callee.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    assert_eq!(field(&ended, "rejected"), "0", "{ended}");
    let ended = event_line(&caller.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "rejected"), "0", "{ended}");

    hop.tamper.store(true, std::sync::atomic::Ordering::Relaxed);
    caller.call("sip.call", to).unwrap();
    let log = callee.wait_for_n("SIP sip.call.ended", 2);
    // The second call's end (it may end before its ACK is in, so before
    // any "answered" of its own).
    let ended = nth_event_line(&log, "sip.call.ended", 2);
    assert_eq!(field(&ended, "reason"), "failed", "{ended}");
    assert_eq!(field(&ended, "tx"), "0", "no audio went out: {ended}");
    assert!(
        log.contains(
            "hanging up: the peer's certificate does not match the fingerprint in its SDP"
        ),
        "{log}"
    );
    caller.wait_for_n("SIP sip.call.ended", 2);
}
