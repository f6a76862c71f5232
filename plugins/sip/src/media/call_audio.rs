//! A call's source and sink, opened at the call's rate, and what meets
//! its coder when the two differ: a re-INVITE may change the codec, and
//! with it the rate (G.722 → PCMU is 16 → 8 kHz), while the recording's
//! WAV header and the sound device keep the rate they were opened at. The
//! usual case, the same rate on both sides, passes frames as they are.

use super::audio::{AudioSink, AudioSource, Rate};
use super::resample::Bridge;

pub struct CallAudio {
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    /// The rate the source and sink were opened at.
    rate: Rate,
    /// From the source's rate to the coder's.
    outbound: Bridge,
    /// From a decoded frame's rate to the sink's.
    inbound: Bridge,
    /// One frame from the source.
    pcm: Vec<i16>,
    /// A frame converted for the coder.
    converted: Vec<i16>,
}

impl CallAudio {
    /// `source` and `sink` as opened for the call, both at `rate`.
    pub fn new(source: Box<dyn AudioSource>, sink: Box<dyn AudioSink>, rate: Rate) -> CallAudio {
        CallAudio {
            source,
            sink,
            rate,
            outbound: Bridge::new(rate, rate),
            inbound: Bridge::new(rate, rate),
            pcm: vec![0; Rate::Wide.frame()],
            converted: Vec::with_capacity(Rate::Wide.frame()),
        }
    }

    /// The rate the source and sink run at.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The source's next 20 ms, at the coder's rate `to`.
    pub fn next_frame(&mut self, to: Rate) -> &[i16] {
        let pcm = &mut self.pcm[..self.rate.frame()];
        self.source.fill(pcm);
        if to == self.rate {
            return pcm;
        }
        if self.outbound.to() != to {
            self.outbound = Bridge::new(self.rate, to);
        }
        self.outbound.convert(pcm, &mut self.converted);
        &self.converted
    }

    /// A decoded frame at `at` as a frame for the sink (owned: the jitter
    /// buffer may hold it).
    pub fn received(&mut self, frame: &[i16], at: Rate) -> Vec<i16> {
        if at == self.rate {
            return frame.to_vec();
        }
        if self.inbound.from() != at {
            self.inbound = Bridge::new(at, self.rate);
        }
        let mut out = Vec::with_capacity(self.rate.frame());
        self.inbound.convert(frame, &mut out);
        out
    }

    /// 20 ms of silence for the sink (a DTMF packet's place in time).
    pub fn silence(&self) -> Vec<i16> {
        vec![0; self.rate.frame()]
    }

    pub fn sink(&mut self) -> &mut dyn AudioSink {
        self.sink.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sink::NullSink;
    use crate::media::source::Tone;

    #[test]
    fn same_rate_passes_frames_untouched() {
        let mut audio = CallAudio::new(
            Box::new(Tone::new(1000.0, 8000.0, Rate::Narrow)),
            Box::new(NullSink),
            Rate::Narrow,
        );
        let mut expected = vec![0; 160];
        Tone::new(1000.0, 8000.0, Rate::Narrow).fill(&mut expected);
        assert_eq!(audio.next_frame(Rate::Narrow), &expected[..]);
        let frame: Vec<i16> = (0..160).collect();
        assert_eq!(audio.received(&frame, Rate::Narrow), frame);
    }

    #[test]
    fn a_codec_of_another_rate_gets_frames_of_its_own() {
        // Opened for G.722, then a re-INVITE agreed PCMU.
        let mut audio = CallAudio::new(
            Box::new(Tone::new(1000.0, 8000.0, Rate::Wide)),
            Box::new(NullSink),
            Rate::Wide,
        );
        assert_eq!(audio.next_frame(Rate::Narrow).len(), 160);
        assert_eq!(audio.received(&[0; 160], Rate::Narrow).len(), 320);
        assert_eq!(audio.silence().len(), 320);
        // And back.
        assert_eq!(audio.next_frame(Rate::Wide).len(), 320);
        assert_eq!(audio.received(&[0; 320], Rate::Wide).len(), 320);
    }
}
