//! G.722 and Opus against baresip loaded with that codec's module and no
//! other, both ways: the call agrees on the codec, and each side records
//! the other's tone.

use crate::AUTO_ANSWER;
use serde_json::json;
use tandem_tests::baresip::{tone_in, Baresip};
use tandem_tests::sidecar::{event_line, field, Sidecar};

/// Tandem sends 440 Hz and records, with `codecs` as configured.
fn tandem(codecs: &str, records: &std::path::Path) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"tone:440\"\nrecord = \"wav:{}/{{call}}.wav\"\n\
             codecs = {codecs}\n{AUTO_ANSWER}",
            records.display()
        ),
        &["auto-answer"],
    )
}

/// Talks for three seconds and hangs up; checks the call used `codec`
/// (Tandem's account of it and baresip's), that Tandem heard baresip's
/// 1000 Hz and baresip heard Tandem's 440 Hz.
fn talk_and_check(tandem: &Sidecar, baresip: &Baresip, records: &std::path::Path, codec: &str) {
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    std::thread::sleep(std::time::Duration::from_secs(3));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "codec"), codec, "{ended}");
    assert!(field(&ended, "rx").parse::<u32>().unwrap() > 100, "{ended}");
    let heard = tone_in(&records.join(format!("{id}.wav")));
    assert!(
        (heard - 1000.0).abs() < 50.0,
        "Tandem heard {heard} Hz over {codec}"
    );
    baresip.wait_for("terminated");
    let heard = tone_in(&baresip.received_audio());
    assert!(
        (heard - 440.0).abs() < 22.0,
        "baresip heard {heard} Hz over {codec}"
    );
}

/// Both ways with baresip speaking only `module` (baresip's name for the
/// codec, its tone file at `rate` and channels); Tandem configured with
/// `codecs`, agreeing on `codec`.
fn both_ways((module, rate): (&str, (u32, u16)), codecs: &str, codec: &str) {
    let records = tempfile::tempdir().unwrap();
    let answering = tandem(codecs, records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", answering.sip_port());
    let baresip = Baresip::start_with_codec(1000.0, Some(&uri), module, rate);
    talk_and_check(&answering, &baresip, records.path(), codec);
    drop((baresip, answering));

    let records = tempfile::tempdir().unwrap();
    let calling = tandem(codecs, records.path());
    let baresip = Baresip::start_with_codec(1000.0, None, module, rate);
    calling
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{}", baresip.port) }),
        )
        .unwrap();
    talk_and_check(&calling, &baresip, records.path(), codec);
}

#[test]
fn g722_with_baresip_both_ways() {
    // G.711 after it in our order: the call must still pick G.722,
    // the one baresip has.
    both_ways(("g722", (16000, 1)), r#"["G722", "PCMU", "PCMA"]"#, "G722");
}

#[test]
fn opus_with_baresip_both_ways() {
    // Opus is not in the default order: configured first here.
    both_ways(("opus", (48000, 2)), r#"["opus", "G722", "PCMU"]"#, "opus");
}
