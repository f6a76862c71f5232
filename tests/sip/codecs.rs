//! G.722 and Opus against baresip loaded with that codec's module and no
//! other, both ways: the call agrees on the codec, and each side records
//! the other's tone. With tones above 4 kHz, which 8 kHz audio cannot
//! carry, the same calls show the engine is wideband end to end.

use crate::AUTO_ANSWER;
use serde_json::json;
use tandem_tests::baresip::{tone_in, Baresip};
use tandem_tests::sidecar::{event_line, field, Sidecar};

/// What each side sends: Tandem's tone and baresip's, in Hz.
#[derive(Clone, Copy)]
struct Tones {
    tandem: f64,
    baresip: f64,
}

/// Telephone-band tones, as any codec carries.
const SPEECH_BAND: Tones = Tones {
    tandem: 440.0,
    baresip: 1000.0,
};

/// Above 4 kHz: an 8 kHz engine cannot send these, and a recording at
/// 8 kHz would hold their aliases (2 and 3 kHz), never the tones.
const ABOVE_4_KHZ: Tones = Tones {
    tandem: 6000.0,
    baresip: 5000.0,
};

/// Tandem sends `hz` and records, with `codecs` as configured.
fn tandem(codecs: &str, hz: f64, records: &std::path::Path) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"tone:{hz}\"\nrecord = \"wav:{}/{{call}}.wav\"\n\
             codecs = {codecs}\n{AUTO_ANSWER}",
            records.display()
        ),
        &["auto-answer"],
    )
}

/// Talks for three seconds, with DTMF both ways, and hangs up; checks the
/// call used `codec` (Tandem's account of it and baresip's), that Tandem
/// heard baresip's tone in a recording at `rate` and baresip heard
/// Tandem's (within 5 %).
fn talk_and_check(
    tandem: &Sidecar,
    baresip: &Baresip,
    records: &std::path::Path,
    (codec, rate): (&str, u32),
    tones: Tones,
) {
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // RFC 4733 events both ways, in this codec's call.
    crate::audio::exchange_dtmf(tandem, baresip, &id);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "codec"), codec, "{ended}");
    assert!(field(&ended, "rx").parse::<u32>().unwrap() > 100, "{ended}");
    let recording = records.join(format!("{id}.wav"));
    let recorded_at = hound::WavReader::open(&recording)
        .unwrap()
        .spec()
        .sample_rate;
    assert_eq!(recorded_at, rate, "Tandem's recording of a {codec} call");
    let heard = tone_in(&recording);
    assert!(
        (heard - tones.baresip).abs() < tones.baresip / 20.0,
        "Tandem heard {heard} Hz over {codec}, baresip sent {}",
        tones.baresip
    );
    baresip.wait_for("terminated");
    let heard = tone_in(&baresip.received_audio());
    assert!(
        (heard - tones.tandem).abs() < tones.tandem / 20.0,
        "baresip heard {heard} Hz over {codec}, Tandem sent {}",
        tones.tandem
    );
}

/// Both ways with baresip speaking only `module` (baresip's name for the
/// codec, its tone file at `file` rate and channels); Tandem configured
/// with `codecs`, agreeing on `codec` and recording at `rate`.
fn both_ways((module, file): (&str, (u32, u16)), codecs: &str, agreed: (&str, u32), tones: Tones) {
    let records = tempfile::tempdir().unwrap();
    let answering = tandem(codecs, tones.tandem, records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", answering.sip_port());
    let baresip = Baresip::start_with_codec(tones.baresip, Some(&uri), module, file);
    talk_and_check(&answering, &baresip, records.path(), agreed, tones);
    drop((baresip, answering));

    let records = tempfile::tempdir().unwrap();
    let calling = tandem(codecs, tones.tandem, records.path());
    let baresip = Baresip::start_with_codec(tones.baresip, None, module, file);
    calling
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{}", baresip.port) }),
        )
        .unwrap();
    talk_and_check(&calling, &baresip, records.path(), agreed, tones);
}

const G722: (&str, (u32, u16)) = ("g722", (16000, 1));
/// baresip's `aufile` wants Opus's 48 kHz stereo.
const OPUS: (&str, (u32, u16)) = ("opus", (48000, 2));

#[test]
fn g722_with_baresip_both_ways() {
    // G.711 after it in our order: the call must still pick G.722,
    // the one baresip has.
    let codecs = r#"["G722", "PCMU", "PCMA"]"#;
    both_ways(G722, codecs, ("G722", 16000), SPEECH_BAND);
}

#[test]
fn opus_with_baresip_both_ways() {
    // Opus is not in the default order: configured first here.
    let codecs = r#"["opus", "G722", "PCMU"]"#;
    both_ways(OPUS, codecs, ("opus", 16000), SPEECH_BAND);
}

/// A G.722 call is wideband both ways: 6 kHz from Tandem reaches baresip
/// as 6 kHz, 5 kHz from baresip is in Tandem's 16 kHz recording as 5 kHz.
#[test]
fn g722_carries_tones_above_4_khz_both_ways() {
    both_ways(G722, r#"["G722", "PCMU"]"#, ("G722", 16000), ABOVE_4_KHZ);
}

/// The same over Opus, coded at 16 kHz.
#[test]
fn opus_carries_tones_above_4_khz_both_ways() {
    both_ways(OPUS, r#"["opus", "PCMU"]"#, ("opus", 16000), ABOVE_4_KHZ);
}
