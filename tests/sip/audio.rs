//! Audio and DTMF both ways: sipp's captures, baresip over UDP and TLS,
//! and the sound device as a PulseAudio server with no card.

use crate::AUTO_ANSWER;
use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sound::SoundServer;

#[test]
fn audio_and_dtmf_from_sipp_are_received_and_counted() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
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
    crate::sipp_calls(&tandem, &["-sn", "uac_pcap"], dir.path());
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

/// Tandem sends 440 Hz and records; baresip sends 1000 Hz and records.
fn tandem_for_baresip(record_dir: &std::path::Path) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"tone:440\"\nrecord = \"wav:{}/{{call}}.wav\"\n{AUTO_ANSWER}",
            record_dir.display()
        ),
        &["auto-answer"],
    )
}

/// Talks for a while, sends DTMF to baresip, hangs up; checks both
/// recordings hold the other side's tone and baresip heard the digits.
fn talk_and_check(tandem: &Sidecar, baresip: &Baresip, record_dir: &std::path::Path) {
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    exchange_dtmf(tandem, baresip, &id);
    std::thread::sleep(std::time::Duration::from_millis(500));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
    assert_tone(
        &record_dir.join(format!("{id}.wav")),
        1000.0,
        "Tandem heard baresip",
    );
    baresip.wait_for("terminated");
    assert_tone(&baresip.received_audio(), 440.0, "baresip heard Tandem");
}

/// Tandem sends 12# (RFC 4733) and baresip hears each digit once; baresip
/// presses 47 and Tandem reports each once.
pub(crate) fn exchange_dtmf(tandem: &Sidecar, baresip: &Baresip, id: &str) {
    tandem
        .call("sip.dtmf", json!({ "call": id, "digits": "12#" }))
        .unwrap();
    baresip.wait_for("received event: '#' (end=1)");
    assert_eq!(
        baresip.received_digits(),
        "12#",
        "each digit once:\n{}",
        baresip.log()
    );
    baresip.press("47");
    let log = tandem.wait_for_n("SIP sip.dtmf call=", 2);
    let digits: String = log
        .lines()
        .filter(|l| l.contains("SIP sip.dtmf"))
        .map(|l| field(l, "digit").to_owned())
        .collect();
    assert_eq!(
        digits, "47",
        "Tandem heard baresip's keys once each:\n{log}"
    );
}

#[test]
fn baresip_calls_tandem_with_audio_and_dtmf() {
    let records = tempfile::tempdir().unwrap();
    let tandem = tandem_for_baresip(records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let incoming = event_line(
        &tandem.wait_for("SIP sip.call.incoming"),
        "sip.call.incoming",
    );
    assert!(
        field(&incoming, "peer").starts_with("sip:bob@127.0.0.1"),
        "{incoming}"
    );
    talk_and_check(&tandem, &baresip, records.path());
}

#[test]
fn tandem_calls_baresip_with_audio_and_dtmf() {
    let records = tempfile::tempdir().unwrap();
    let tandem = tandem_for_baresip(records.path());
    let baresip = Baresip::start(1000.0, None);
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{}", baresip.port) }),
        )
        .unwrap();
    talk_and_check(&tandem, &baresip, records.path());
}

/// Tandem listening on TLS only (so nothing can fall back to UDP), trusting
/// the test CA, with the certificate baresip trusts too.
fn tandem_over_tls(record_dir: &std::path::Path, certs: &std::path::Path) -> Sidecar {
    let file = |name: &str| certs.join(name).display().to_string();
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\ntransports = [\"tls\"]\ntls_certificate_file = {:?}\n\
             tls_key_file = {:?}\nca_path = {:?}\nsource = \"tone:440\"\n\
             record = \"wav:{}/{{call}}.wav\"\n{AUTO_ANSWER}",
            file("server.pem"),
            file("server.key"),
            file("ca.pem"),
            record_dir.display()
        ),
        &["auto-answer"],
    )
}

#[test]
fn baresip_and_tandem_call_each_other_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(certs.path());
    let records = tempfile::tempdir().unwrap();
    let tandem = tandem_over_tls(records.path(), certs.path());
    let status = tandem.call("sip.status", json!({})).unwrap();
    let listening = status["listening"][0].as_str().unwrap().to_owned();
    assert!(listening.starts_with("tls 127.0.0.1:"), "{status}");
    let port = tandem.sip_port();

    // baresip calls in over TLS.
    let uri = format!("sip:alice@127.0.0.1:{port};transport=tls");
    let baresip = Baresip::start_tls(1000.0, Some(&uri), certs.path());
    talk_and_check(&tandem, &baresip, records.path());
    drop(baresip);

    // Tandem calls out over TLS, verifying baresip's certificate: a sips:
    // URI says TLS without a transport parameter (RFC 3261 §26.2).
    let baresip = Baresip::start_tls(1000.0, None, certs.path());
    let to = format!("sips:bob@127.0.0.1:{}", baresip.port + 1);
    tandem.call("sip.call", json!({ "to": to })).unwrap();
    let log = tandem.wait_for_n("SIP sip.call.answered", 2);
    assert_eq!(log.matches("SIP sip.call.ended").count(), 1, "{log}");
    let answered = log
        .lines()
        .filter(|l| l.contains("SIP sip.call.answered"))
        .nth(1)
        .unwrap()
        .to_owned();
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    // Hang up at once. baresip (libre) reports a BYE it received as
    // "session closed: Connection reset by peer" (ECONNRESET is its code
    // for "the peer hung up"), and prints "terminated" only for calls of
    // a second or more, so the first is what says the BYE arrived.
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    tandem.wait_for_n("SIP sip.call.ended", 2);
    baresip.wait_for("session closed: Connection reset by peer");

    // A sidecar trusting another CA refuses baresip's certificate: the
    // command fails at once with the reason, and baresip never rings.
    let other_ca = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(other_ca.path());
    let doubter = Sidecar::start_sip(
        &format!(
            "user = \"carol\"\nca_path = {:?}",
            other_ca.path().join("ca.pem").display().to_string()
        ),
        &[],
    );
    let err = doubter
        .call("sip.call", json!({ "to": to }))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("over TLS") && err.to_lowercase().contains("certificate"),
        "the reason, at once: {err}"
    );
    assert_eq!(baresip.log().matches("incoming call").count(), 0);
}

/// Within 5 % of `expected`: crossings at block edges go uncounted.
fn assert_tone(path: &std::path::Path, expected: f64, what: &str) {
    let hz = tandem_tests::baresip::tone_in(path);
    assert!(
        (hz - expected).abs() < expected * 0.05,
        "{what}: {hz} Hz, expected {expected}"
    );
}

/// baresip (sending 1000 Hz) calls `tandem`, which answers; returns baresip
/// and the call's id once both sides have the call up.
fn baresip_calls_in(tandem: &Sidecar) -> (Baresip, String) {
    baresip_calls_in_with(tandem, |uri| Baresip::start(1000.0, Some(uri)))
}

/// Like `baresip_calls_in`, with baresip started by `start` (given the
/// URI to dial).
fn baresip_calls_in_with(
    tandem: &Sidecar,
    start: impl FnOnce(&str) -> Baresip,
) -> (Baresip, String) {
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let baresip = start(&uri);
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    baresip.wait_for("Call established");
    (baresip, field(&answered, "call").to_owned())
}

/// Tandem answering, talking through `sound`'s microphone and speaker.
fn with_sound_devices(sound: &SoundServer) -> Sidecar {
    Sidecar::start_sip_with_env(
        &format!("user = \"alice\"\nsource = \"device\"\nplayback = \"device\"\n{AUTO_ANSWER}"),
        &["auto-answer"],
        &sound.env(),
    )
}

/// Tandem's microphone and speaker are a sound server's (PulseAudio,
/// reached through ALSA as on a desktop): a voice spoken into the
/// microphone reaches baresip, and what baresip sends comes out of the
/// speaker.
#[test]
fn the_microphone_reaches_baresip_and_baresip_comes_out_of_the_speaker() {
    let sound = SoundServer::start();
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    tandem_tests::baresip::write_tone(&voice, 600.0, 30);
    let tandem = with_sound_devices(&sound);
    // Only now: starting the sidecar may first build it, for longer than
    // the recording lasts.
    let _speaking = sound.speak_into_microphone(&voice);
    let heard = dir.path().join("speaker.wav");
    let speaker = sound.record_speaker(&heard);
    let (baresip, id) = baresip_calls_in(&tandem);
    // Talk for 5 s: the test's sound server (a null sink's monitor) hands
    // a new capture stream its first period only ≈ 1.9 s after it starts,
    // every time, so 3 s left barely a second of voice to check.
    std::thread::sleep(std::time::Duration::from_secs(5));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    tandem.wait_for("SIP sip.call.ended");
    speaker.stop();
    let log = tandem.log();
    assert!(
        log.contains("microphone \"default\"") && log.contains("speaker \"default\""),
        "the devices were opened:\n{log}"
    );
    assert_tone(&heard, 1000.0, "the speaker played baresip");
    baresip.wait_for("terminated");
    assert_tone(
        &baresip.received_audio(),
        600.0,
        "baresip heard the microphone",
    );
}

/// In a G.722 call (the default order puts it first) the microphone and
/// the speaker are opened at 16 kHz, so a 6 kHz voice reaches baresip as
/// 6 kHz and baresip's 5 kHz comes out of the speaker as 5 kHz: neither
/// would pass through 8 kHz.
#[test]
fn a_g722_call_uses_the_sound_devices_at_16_khz() {
    let sound = SoundServer::start();
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    tandem_tests::baresip::write_tone_at(&voice, 6000.0, 30, (16000, 1));
    let tandem = with_sound_devices(&sound);
    let _speaking = sound.speak_into_microphone(&voice);
    let heard = dir.path().join("speaker.wav");
    let speaker = sound.record_speaker_at(&heard, 16000);
    let (baresip, id) = baresip_calls_in_with(&tandem, |uri| {
        Baresip::start_with_codec(5000.0, Some(uri), "g722", (16000, 1))
    });
    // 5 s, as above: the test's sound server starts a capture late.
    std::thread::sleep(std::time::Duration::from_secs(5));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "codec"), "G722", "{ended}");
    speaker.stop();
    let log = tandem.log();
    assert!(
        log.contains("microphone \"default\": 16000 Hz")
            && log.contains("speaker \"default\": 16000 Hz"),
        "the devices were opened at 16 kHz:\n{log}"
    );
    assert_tone(&heard, 5000.0, "the speaker played baresip");
    baresip.wait_for("terminated");
    assert_tone(
        &baresip.received_audio(),
        6000.0,
        "baresip heard the microphone",
    );
}

/// A sound device that is not there does not stop a call: it goes ahead
/// with silence, and the log says which device and why.
#[test]
fn a_missing_sound_device_leaves_the_call_working() {
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"device:no-such-card\"\nplayback = \"device:no-such-card\"\n{AUTO_ANSWER}"
        ),
        &["auto-answer"],
    );
    assert!(
        tandem.log().contains("no microphone now"),
        "{}",
        tandem.log()
    );
    let (_baresip, id) = baresip_calls_in(&tandem);
    let log = tandem.wait_for("no speaker");
    assert!(
        log.contains("no microphone (sound device \"no-such-card\""),
        "{log}"
    );
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
}
