//! The audio codecs on the wire: each one's RTP facts (payload type,
//! clock, `a=rtpmap`), the configured order narrowed to what this machine
//! can run, and a call's encoder and decoder.
//!
//! A call's engine runs at its codec's audio rate (`Codec::rate`): 20 ms
//! frames of 8 kHz for G.711, of 16 kHz for G.722 and Opus, so sources,
//! sinks and coders meet without conversion and a wideband call carries
//! audio up to 8 kHz (decision 0074; before it, decision 0064 kept the
//! engine at 8 kHz and converted at the coder's edge).

use super::audio::Rate;
use super::g711::{self, Law};
use super::g722;
use super::opus;
pub use crate::config::codecs::Codec;

impl Codec {
    /// The payload type we offer it under: the static ones of RFC 3551,
    /// and 111 for Opus, as baresip and browsers use.
    pub fn offered_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => 9,
            Codec::Opus => 111,
        }
    }

    /// The G.711 law, for the two G.711 codecs.
    pub fn law(self) -> Option<Law> {
        match self {
            Codec::Pcmu => Some(Law::Mu),
            Codec::Pcma => Some(Law::A),
            _ => None,
        }
    }

    /// The codec a static payload type means without an `a=rtpmap`.
    pub fn from_static(payload_type: u8) -> Option<Codec> {
        match payload_type {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            9 => Some(Codec::G722),
            _ => None,
        }
    }

    /// The RTP clock: 8000 for G.722 although it samples at 16 kHz (RFC
    /// 3551 §4.5.2 kept an old mistake for compatibility), 48000 for Opus
    /// whatever it codes (RFC 7587 §4.1).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48000,
            Codec::G722 | Codec::Pcmu | Codec::Pcma => 8000,
        }
    }

    /// The audio rate a call with this codec runs at: G.711's 8 kHz;
    /// G.722's 16 kHz (whatever its RTP clock says); 16 kHz for Opus,
    /// wideband, which libopus codes at that rate without resampling.
    pub fn rate(self) -> Rate {
        match self {
            Codec::Pcmu | Codec::Pcma => Rate::Narrow,
            Codec::G722 => Rate::Wide,
            Codec::Opus => opus::RATE,
        }
    }

    /// RTP timestamp units per 20 ms frame.
    pub fn timestamp_step(self) -> u32 {
        self.clock_rate() / 50
    }

    /// `a=rtpmap`'s encoding: Opus is always declared two-channel (RFC
    /// 7587 §7), whatever is sent.
    pub fn rtpmap(self) -> String {
        match self {
            Codec::Opus => "opus/48000/2".to_owned(),
            other => format!("{}/{}", other.name(), other.clock_rate()),
        }
    }

    /// `a=fmtp` parameters we send with it.
    pub fn fmtp(self) -> Option<&'static str> {
        match self {
            // baresip's defaults: mono, in-band FEC on, DTX off.
            Codec::Opus => Some("stereo=0;sprop-stereo=0;useinbandfec=1"),
            _ => None,
        }
    }

    /// The codec for an rtpmap encoding name (case-insensitive) and clock.
    pub fn from_rtpmap(name: &str, rate: u32) -> Option<Codec> {
        let codec: Codec = name.parse().ok()?;
        (codec.clock_rate() == rate).then_some(codec)
    }

    /// Why this machine cannot run the codec, if it cannot: Opus
    /// without libopus. In plain words, for the person who installs.
    pub fn unavailable(self) -> Option<String> {
        match self {
            Codec::Opus => opus::library().err().map(|e| match e {
                opus::OpusError::Missing => {
                    "libopus is not installed here (install libopus0)".to_owned()
                }
                other => format!("{other} (install Debian's libopus0)"),
            }),
            _ => None,
        }
    }

    /// The codec's name for people: "Opus", "G.722", "PCMU", "PCMA".
    fn spoken(self) -> &'static str {
        match self {
            Codec::Opus => "Opus",
            Codec::G722 => "G.722",
            other => other.name(),
        }
    }
}

/// One sentence for each codec in `configured` that cannot run here,
/// naming what calls will use instead: said by `tandem check` and logged
/// once when the plugin starts.
pub fn left_out(configured: &[Codec]) -> Vec<String> {
    let mut missing = Vec::new();
    let usable = Preference::new(configured, |codec, why| missing.push((codec, why)));
    let instead: Vec<&str> = usable.iter().map(Codec::name).collect();
    let instead = match instead.is_empty() {
        true => "nothing else in `codecs` can run here, so SIP will not start".to_owned(),
        false => format!("calls will use {}", instead.join(", ")),
    };
    missing
        .into_iter()
        .map(|(codec, why)| format!("{} is in `codecs` but {why}; {instead}", codec.spoken()))
        .collect()
}

/// The configured codecs this machine can run, best first; `Copy`, so
/// it travels with a call's SDP settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    order: [Option<Codec>; Codec::ALL.len()],
}

impl Preference {
    /// `configured` without repeats, and without the codecs that cannot
    /// run here (each reported once, through `report`).
    pub fn new(configured: &[Codec], mut report: impl FnMut(Codec, String)) -> Preference {
        let mut order = [None; Codec::ALL.len()];
        let mut len = 0;
        for &codec in configured {
            if order[..len].contains(&Some(codec)) {
                continue;
            }
            if let Some(why) = codec.unavailable() {
                report(codec, why);
                continue;
            }
            order[len] = Some(codec);
            len += 1;
        }
        Preference { order }
    }

    pub fn iter(&self) -> impl Iterator<Item = Codec> + '_ {
        self.order.iter().map_while(|c| *c)
    }

    pub fn is_empty(&self) -> bool {
        self.order[0].is_none()
    }
}

impl Default for Preference {
    fn default() -> Self {
        Preference::new(&Codec::default_order(), |_, _| {})
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoderError {
    #[error("{0} cannot run on this machine: {1}")]
    Unavailable(Codec, String),
    #[error(transparent)]
    Opus(#[from] opus::OpusError),
}

/// A call's encoder and decoder for the agreed codec: frames at the
/// codec's `rate` in and out, as they are.
pub struct Coder {
    codec: Codec,
    kind: Kind,
}

enum Kind {
    G711(Law),
    G722(Box<(g722::Encoder, g722::Decoder)>),
    Opus(opus::Encoder, opus::Decoder),
}

impl Coder {
    pub fn new(codec: Codec) -> Result<Coder, CoderError> {
        if let Some(why) = codec.unavailable() {
            return Err(CoderError::Unavailable(codec, why));
        }
        let kind = match codec {
            Codec::Pcmu => Kind::G711(Law::Mu),
            Codec::Pcma => Kind::G711(Law::A),
            Codec::G722 => Kind::G722(Box::default()),
            Codec::Opus => Kind::Opus(opus::Encoder::new()?, opus::Decoder::new()?),
        };
        Ok(Coder { codec, kind })
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The rate its frames are at (the codec's).
    pub fn rate(&self) -> Rate {
        self.codec.rate()
    }

    /// One 20 ms frame at the codec's rate into one RTP payload.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        match &mut self.kind {
            Kind::G711(law) => g711::encode(*law, pcm, out),
            Kind::G722(g722) => g722.0.encode(pcm, out),
            Kind::Opus(encoder, _) => encoder.encode(pcm, out),
        }
    }

    /// One RTP payload into samples at the codec's rate.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        match &mut self.kind {
            Kind::G711(law) => g711::decode(*law, payload, out),
            Kind::G722(g722) => g722.1.decode(payload, out),
            Kind::Opus(_, decoder) => decoder.decode(payload, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::dominant;
    use crate::media::audio::AudioSource;
    use crate::media::source::Tone;

    /// A second of a tone through encode → decode, 20 ms at a time at the
    /// codec's rate, as a call does: the tone that comes out (Goertzel),
    /// and the payload bytes per frame.
    fn through(codec: Codec, hz: f64) -> (f64, usize) {
        let rate = codec.rate();
        let mut tone = Tone::new(hz, 8000.0, rate);
        let (mut sender, mut receiver) = (Coder::new(codec).unwrap(), Coder::new(codec).unwrap());
        let mut frame = vec![0i16; rate.frame()];
        let (mut payload, mut decoded, mut heard) = (Vec::new(), Vec::new(), Vec::new());
        let mut sizes = 0;
        for _ in 0..50 {
            tone.fill(&mut frame);
            sender.encode(&frame, &mut payload);
            sizes = payload.len();
            receiver.decode(&payload, &mut decoded);
            assert_eq!(decoded.len(), rate.frame(), "{codec}");
            heard.extend_from_slice(&decoded);
        }
        // Only what the rate can carry: above it, a tone is its own alias.
        let candidates: Vec<f64> = [
            300.0, 440.0, 700.0, 1000.0, 1500.0, 2000.0, 3000.0, 6000.0, 7000.0,
        ]
        .into_iter()
        .filter(|&c| c < rate.nyquist())
        .collect();
        let settled = &heard[rate.hz() as usize / 10..];
        let hz = f64::from(rate.hz());
        (dominant(settled, &candidates, hz).unwrap(), sizes)
    }

    #[test]
    fn every_codec_keeps_a_tone() {
        // libopus is on every machine that runs the suite (baresip's
        // opus module needs it): its absence is a failure here, not a skip.
        assert_eq!(Codec::Opus.unavailable(), None);
        for codec in Codec::ALL {
            for hz in [440.0, 1000.0, 3000.0] {
                let (heard, bytes) = through(codec, hz);
                assert_eq!(heard, hz, "{codec}");
                match codec {
                    Codec::Pcmu | Codec::Pcma | Codec::G722 => assert_eq!(bytes, 160),
                    // 28 kbit/s is 70 bytes a 20 ms packet, give or take.
                    Codec::Opus => assert!((30..=120).contains(&bytes), "{bytes} bytes"),
                }
            }
        }
    }

    /// What 8 kHz cannot carry: a 6 kHz tone through G.722 and Opus comes
    /// out as 6 kHz (not silence, not its 2 kHz alias), so the call is
    /// wideband end to end in the coder.
    #[test]
    fn wideband_codecs_keep_a_tone_above_4_khz() {
        for codec in [Codec::G722, Codec::Opus] {
            assert_eq!(codec.rate(), Rate::Wide);
            let (heard, _) = through(codec, 6000.0);
            assert_eq!(heard, 6000.0, "{codec}");
        }
        assert_eq!(Codec::Pcmu.rate(), Rate::Narrow);
        assert_eq!(Codec::Pcma.rate(), Rate::Narrow);
    }

    #[test]
    fn rtp_facts_follow_the_rfcs() {
        assert_eq!(Codec::G722.rtpmap(), "G722/8000");
        assert_eq!(Codec::G722.timestamp_step(), 160);
        assert_eq!(Codec::Opus.rtpmap(), "opus/48000/2");
        assert_eq!(Codec::Opus.timestamp_step(), 960);
        assert_eq!(Codec::from_rtpmap("g722", 8000), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("G722", 16000), None);
        assert_eq!(Codec::from_rtpmap("OPUS", 48000), Some(Codec::Opus));
        assert_eq!(Codec::from_rtpmap("PCMA", 8000), Some(Codec::Pcma));
        assert_eq!(Codec::from_static(9), Some(Codec::G722));
    }

    #[test]
    fn preference_drops_repeats_and_what_cannot_run() {
        let mut reported = Vec::new();
        let preference = Preference::new(
            &[Codec::Pcma, Codec::G722, Codec::Pcma, Codec::Pcmu],
            |c, _| reported.push(c),
        );
        assert_eq!(
            preference.iter().collect::<Vec<_>>(),
            [Codec::Pcma, Codec::G722, Codec::Pcmu]
        );
        assert!(reported.is_empty());
    }
}
