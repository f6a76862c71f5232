//! What a call's audio flows through: a source fills 20 ms frames of 8 kHz
//! mono, a sink takes them. A leaf: the files, tones and the sound device
//! (`source`, `sink`, `device`) implement these, and the call's media task
//! (`session`) uses them, without any of them importing each other in a
//! circle.

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// Fills one 20 ms frame of 8 kHz mono audio.
pub trait AudioSource: Send + Sync {
    fn fill(&mut self, frame: &mut [i16]);
}

/// Takes the call's received audio, frame by frame.
pub trait AudioSink: Send + Sync {
    fn write(&mut self, pcm: &[i16]);
    /// Flushes and closes; a WAV file is only complete after this.
    fn finish(&mut self);
}
