//! SRTP with SDES keys against baresip's `srtp` module, both ways: the
//! tone arrives at each side, and the packets between them (kept by a
//! relay that stands where Tandem's SDP points) are encrypted.

use crate::AUTO_ANSWER;
use serde_json::json;
use tandem_tests::baresip::{tone_in, Baresip};
use tandem_tests::relay::{ulaw_tone_share, MediaRelay, Way};
use tandem_tests::sidecar::{event_line, field, Sidecar};

/// Tandem sends 440 Hz and records, its media behind `relay`.
pub(crate) fn tandem(encryption: &str, relay: &MediaRelay, records: &std::path::Path) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"tone:440\"\nrecord = \"wav:{}/{{call}}.wav\"\n\
             media_encryption = \"{encryption}\"\n{}{AUTO_ANSWER}",
            records.display(),
            relay.config(),
        ),
        &["auto-answer"],
    )
}

/// How the RTP that went `way` looked on the wire: (packets, the largest
/// share of a tone of `hz` in any payload read as μ-law).
///
/// The peer's first packets, while they carry no SRTP tag (plain PCMU is
/// 172 bytes, SRTP 176 or 182), are not judged, five at most: baresip's
/// `dtls_srtp` can send its first in the clear when its audio starts just
/// as the handshake ends, before it has put its SRTP in place (seen: one
/// such packet, arriving right after the handshake, reading as its tone).
/// That is baresip's to mend; Tandem sends nothing before its keys are in
/// place, and every packet it sent is judged.
fn on_the_wire(relay: &MediaRelay, way: Way, hz: f64) -> (usize, f64) {
    let packets = relay.kept(way);
    let rtp = packets.iter().filter(|p| p.len() > 12 && p[1] & 0x7F == 0);
    let peer_plain_start = match way {
        Way::ToTandem => rtp.clone().take(5).take_while(|p| p.len() == 172).count(),
        Way::FromTandem => 0,
    };
    let loudest = rtp
        .skip(peer_plain_start)
        .map(|p| ulaw_tone_share(&p[12..(12 + 160).min(p.len())], hz))
        .fold(0.0, f64::max);
    (packets.len(), loudest)
}

/// Talks for three seconds with ten forged packets in the middle, hangs
/// up; checks the call was SRTP with exactly the forged packets refused,
/// that each side heard the other's tone (and only it), that neither tone
/// can be read on the wire, and that no key reached Tandem's log.
pub(crate) fn talk_and_check_encrypted(
    tandem: &Sidecar,
    baresip: &Baresip,
    relay: &MediaRelay,
    records: &std::path::Path,
) {
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    std::thread::sleep(std::time::Duration::from_secs(1));
    // Counted from here: a peer's packet refused before (baresip's
    // plaintext first packet, see `on_the_wire`) is not the forger's.
    let before = tandem.media_counter(&id, "packets_rejected");
    // Ten forged packets, straight to Tandem's RTP port: a loud μ-law
    // 2000 Hz square wave with a made-up tag. Each must fail
    // authentication, be counted, and be neither played (ten blocks of it
    // would move the recording's measured tone by some 60 Hz) nor latched to.
    let forger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for sequence in 0..10u16 {
        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0xCA, 0xFE, 0xBA, 0xBE];
        packet[2..4].copy_from_slice(&sequence.to_be_bytes());
        packet.extend((0..160).map(|i| if i % 4 < 2 { 0x80 } else { 0x00 }));
        packet.extend_from_slice(&[0x5A; 10]);
        forger.send_to(&packet, ("127.0.0.1", relay.port)).unwrap();
    }
    // Counted as soon as they are: the ten, and nothing else meanwhile.
    let within = std::time::Duration::from_secs(5);
    let rejected = tandem.wait_media_counter(&id, "packets_rejected", before + 10, within);
    assert_eq!(rejected - before, 10, "the forged packets refused");
    std::thread::sleep(std::time::Duration::from_secs(2));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let log = tandem.wait_for("SIP sip.call.ended");
    let ended = event_line(&log, "sip.call.ended");
    assert!(
        field(&ended, "srtp").starts_with("AES_CM_128_HMAC_SHA1_"),
        "{ended}"
    );
    let refusals: Vec<&str> = log.lines().filter(|l| l.contains("SRTP")).collect();
    let at_end: u64 = field(&ended, "rejected").parse().unwrap();
    assert!(at_end >= rejected, "{ended}\n{refusals:#?}");
    let heard = tone_in(&records.join(format!("{id}.wav")));
    assert!((heard - 1000.0).abs() < 50.0, "Tandem heard {heard} Hz");
    baresip.wait_for("terminated");
    let heard = tone_in(&baresip.received_audio());
    assert!((heard - 440.0).abs() < 22.0, "baresip heard {heard} Hz");

    for (way, hz) in [(Way::FromTandem, 440.0), (Way::ToTandem, 1000.0)] {
        let (packets, loudest) = on_the_wire(relay, way, hz);
        assert!(
            packets > 50,
            "{way:?}: only {packets} packets crossed the relay"
        );
        assert!(
            loudest < 0.2,
            "{way:?}: a payload on the wire reads as the {hz} Hz tone (share {loudest:.2})"
        );
    }
    assert!(
        !tandem.log().contains("inline:"),
        "an SRTP key reached the log:\n{}",
        tandem.log()
    );
}

#[test]
fn baresip_calls_tandem_over_srtp() {
    let records = tempfile::tempdir().unwrap();
    let relay = MediaRelay::start();
    let tandem = tandem("sdes", &relay, records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    // `mediaenc=srtp`: baresip offers RTP/AVP with a=crypto (best effort).
    let baresip = Baresip::start_extended(1000.0, Some(&uri), &["srtp"], ";mediaenc=srtp");
    talk_and_check_encrypted(&tandem, &baresip, &relay, records.path());
}

#[test]
fn tandem_calls_baresip_over_mandatory_srtp() {
    let records = tempfile::tempdir().unwrap();
    let relay = MediaRelay::start();
    let tandem = tandem("sdes-required", &relay, records.path());
    // `mediaenc=srtp-mand`: baresip takes RTP/SAVP only.
    let baresip = Baresip::start_extended(1000.0, None, &["srtp"], ";mediaenc=srtp-mand");
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{}", baresip.port) }),
        )
        .unwrap();
    talk_and_check_encrypted(&tandem, &baresip, &relay, records.path());
}

/// `sdes-required` answers a plain offer 488; and the wire check above
/// can fail: in a plain call through the same relay, the tone is there.
#[test]
fn sdes_required_refuses_plain_audio_which_the_wire_shows() {
    let records = tempfile::tempdir().unwrap();
    let relay = MediaRelay::start();
    let strict = tandem("sdes-required", &relay, records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", strict.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let log = strict.wait_for("refusing a call");
    assert!(log.contains("not encrypted"), "{log}");
    baresip.wait_for("488");
    assert!(
        !strict.log().contains("SIP sip.call.incoming"),
        "{}",
        strict.log()
    );
    drop((baresip, strict));

    let plain = tandem("none", &relay, records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", plain.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let answered = event_line(
        &plain.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    baresip.wait_for("Call established");
    std::thread::sleep(std::time::Duration::from_secs(2));
    plain
        .call("sip.hangup", json!({ "call": field(&answered, "call") }))
        .unwrap();
    let ended = event_line(&plain.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "srtp"), "", "{ended}");
    for (way, hz) in [(Way::FromTandem, 440.0), (Way::ToTandem, 1000.0)] {
        let (packets, loudest) = on_the_wire(&relay, way, hz);
        assert!(packets > 50, "{way:?}: only {packets} packets");
        assert!(
            loudest > 0.8,
            "{way:?}: plain G.711 of {hz} Hz scores {loudest:.2}"
        );
    }
}

/// A peer that answers `sdes-required`'s RTP/SAVP offer with plain RTP
/// (sipp's uas, which answers every offer with PCMU and no key): the
/// call is not left up without audio but ended at once with a BYE.
#[test]
fn sdes_required_hangs_up_on_a_plain_answer() {
    let tandem = Sidecar::start_sip("media_encryption = \"sdes-required\"", &[]);
    let dir = tempfile::tempdir().unwrap();
    let (uas, _) = crate::call_sipp_uas(&tandem, dir.path());
    // sipp's uas ends cleanly only when a BYE comes.
    uas.wait_ok(dir.path());
    let log = tandem.wait_for("SIP sip.call.ended");
    let ended = event_line(&log, "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "failed", "{ended}");
    assert_eq!(field(&ended, "tx"), "0", "no plain audio went out: {ended}");
    assert!(
        log.contains("hanging up: the peer's audio is not encrypted"),
        "{log}"
    );
}
