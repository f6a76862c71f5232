//! What a call's audio flows through: a source fills 20 ms frames of mono
//! at the call's rate, a sink takes them. A leaf: the files, tones and the
//! sound device (`source`, `sink`, `device`) implement these, and the
//! call's media task (`session`) uses them, without any of them importing
//! each other in a circle.

/// The audio rate a call's engine runs at, chosen from its codec: G.711
/// is narrowband (8 kHz), G.722 and Opus are coded at 16 kHz (decision
/// 0074). Not the RTP clock, which is the codec's own (`Codec::clock_rate`:
/// 8000 for G.722, 48000 for Opus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rate {
    /// 8 kHz: telephone audio up to 4 kHz.
    Narrow,
    /// 16 kHz: audio up to 8 kHz.
    Wide,
}

impl Rate {
    /// Samples a second.
    pub const fn hz(self) -> u32 {
        match self {
            Rate::Narrow => 8000,
            Rate::Wide => 16000,
        }
    }

    /// Samples in one 20 ms frame.
    pub const fn frame(self) -> usize {
        self.hz() as usize / 50
    }

    /// The highest frequency this rate can carry (half of it).
    pub fn nyquist(self) -> f64 {
        f64::from(self.hz()) / 2.0
    }
}

/// Fills one 20 ms frame of mono audio at the rate it was opened at.
pub trait AudioSource: Send + Sync {
    fn fill(&mut self, frame: &mut [i16]);
}

/// Takes the call's received audio, frame by frame, at the rate it was
/// opened at.
pub trait AudioSink: Send + Sync {
    fn write(&mut self, pcm: &[i16]);
    /// Flushes and closes; a WAV file is only complete after this.
    fn finish(&mut self);
}
