//! Our G.722 against spandsp's, the implementation baresip's `g722`
//! module (and so many phones' peers) runs: the same bytes from the same
//! audio, the same audio from the same bytes, so what one encodes the
//! other decodes exactly as its own (but for samples past full scale,
//! which spandsp wraps and we saturate).

#[path = "reference/spandsp.rs"]
mod spandsp;

use tandem_plugin_sip::media::g722;

/// Five seconds at 16 kHz that visit both bands, silence, full scale and
/// clipping: a sweep from 100 Hz to 7.9 kHz with a noise floor, a square
/// wave at full scale, then silence.
fn signal() -> Vec<i16> {
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 2001) as f64 - 1000.0
    };
    let mut phase = 0.0f64;
    let mut out = Vec::new();
    for i in 0..48000 {
        let hz = 100.0 + 7800.0 * f64::from(i) / 48000.0;
        phase += std::f64::consts::TAU * hz / 16000.0;
        out.push((phase.sin() * 20000.0 + noise()) as i16);
    }
    out.extend((0..16000).map(|i| if i / 20 % 2 == 0 { i16::MAX } else { i16::MIN }));
    out.extend(std::iter::repeat_n(0, 16000));
    out
}

#[test]
fn encodes_and_decodes_bit_for_bit_as_spandsp() {
    let reference = spandsp::Spandsp::load();
    let pcm = signal();
    let (mut ours, mut theirs) = (g722::Encoder::default(), reference.encoder());
    let (mut our_bytes, mut their_bytes) = (Vec::new(), Vec::new());
    let (mut our_decoder, mut their_decoder) = (g722::Decoder::default(), reference.decoder());
    let (mut our_pcm, mut their_pcm) = (Vec::new(), Vec::new());
    let mut clipped_samples = 0;
    // 20 ms frames, as RTP carries them.
    for (n, frame) in pcm.chunks(320).enumerate() {
        ours.encode(frame, &mut our_bytes);
        theirs.encode(frame, &mut their_bytes);
        assert_eq!(our_bytes, their_bytes, "encoding frame {n}");
        // Decode the same bytes both ways.
        our_decoder.decode(&their_bytes, &mut our_pcm);
        their_decoder.decode(&our_bytes, &mut their_pcm);
        assert_eq!(our_pcm.len(), their_pcm.len());
        for (i, (&a, &b)) in our_pcm.iter().zip(&their_pcm).enumerate() {
            // The one difference: a sample past 16 bits (the QMF can
            // overshoot full scale), which spandsp 0.0.6 wraps around to
            // the other sign and we hold at full scale.
            // The full-scale square wave (frames 150 to 199, and the
            // filters' delay into 200) overshoots; the rest never does.
            let clipped = (a == i16::MAX && b < 0) || (a == i16::MIN && b > 0);
            let square = (150..=200).contains(&n);
            assert!(
                a == b || (clipped && square),
                "decoding frame {n}, sample {i}: {a} against {b}"
            );
            clipped_samples += usize::from(clipped);
        }
    }
    assert!(clipped_samples > 0, "the overshoot was not exercised");
}

#[test]
fn a_tone_from_us_is_the_tone_in_spandsp_and_back() {
    let reference = spandsp::Spandsp::load();
    let tone: Vec<i16> = (0..16000)
        .map(|i| ((f64::from(i) * std::f64::consts::TAU * 1000.0 / 16000.0).sin() * 8000.0) as i16)
        .collect();
    let crossings = |pcm: &[i16]| pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    let (mut bytes, mut back) = (Vec::new(), Vec::new());
    g722::Encoder::default().encode(&tone, &mut bytes);
    reference.decoder().decode(&bytes, &mut back);
    // One second of 1 kHz: 2000 zero crossings, give or take the start.
    assert!(
        (1990..=2010).contains(&crossings(&back)),
        "{}",
        crossings(&back)
    );
    reference.encoder().encode(&tone, &mut bytes);
    g722::Decoder::default().decode(&bytes, &mut back);
    assert!(
        (1990..=2010).contains(&crossings(&back)),
        "{}",
        crossings(&back)
    );
}
