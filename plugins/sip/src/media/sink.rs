//! Where received audio goes: a WAV recording, the speaker, both, or
//! nowhere.

use std::path::{Path, PathBuf};

pub use super::audio::{AudioSink, Rate};
use super::device::{self, DeviceSpec};

/// A sink as configured: `null` or `wav:/path/{call}.wav`.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    Null,
    Wav(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("record {0:?}: use \"null\" or \"wav:/path/{{call}}.wav\"")]
    Spec(String),
    #[error("playback {0:?}: use \"none\", \"device\" or \"device:NAME\"")]
    Playback(String),
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: hound::Error },
}

impl std::str::FromStr for SinkSpec {
    type Err = SinkError;

    fn from_str(spec: &str) -> Result<Self, SinkError> {
        match spec.split_once(':') {
            None if spec == "null" => Ok(SinkSpec::Null),
            Some(("wav", path)) if !path.is_empty() => Ok(SinkSpec::Wav(path.to_owned())),
            _ => Err(SinkError::Spec(spec.to_owned())),
        }
    }
}

impl SinkSpec {
    /// Opens the call's recording, written at `rate` (the call's).
    pub fn open(&self, call: &str, rate: Rate) -> Result<Box<dyn AudioSink>, SinkError> {
        match self {
            SinkSpec::Null => Ok(Box::new(NullSink)),
            SinkSpec::Wav(template) => {
                let path = PathBuf::from(template.replace("{call}", call));
                Ok(Box::new(WavRecorder::create(&path, rate)?))
            }
        }
    }
}

/// Where `playback` sends received audio: nowhere or a sound device.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaybackSpec {
    None,
    Device(DeviceSpec),
}

impl std::str::FromStr for PlaybackSpec {
    type Err = SinkError;

    fn from_str(spec: &str) -> Result<Self, SinkError> {
        match DeviceSpec::parse(spec) {
            Some(device) => Ok(PlaybackSpec::Device(device)),
            None if spec == "none" => Ok(PlaybackSpec::None),
            None => Err(SinkError::Playback(spec.to_owned())),
        }
    }
}

impl PlaybackSpec {
    /// Adds the speaker, fed at `rate` (the recording's), to a call's
    /// recording. A sound device is optional at run time: without one the
    /// call goes on and the log says why.
    pub fn with_recording(
        &self,
        call: &str,
        rate: Rate,
        recording: Box<dyn AudioSink>,
    ) -> Box<dyn AudioSink> {
        let PlaybackSpec::Device(spec) = self else {
            return recording;
        };
        match device::open_sink(spec, rate) {
            Ok(speaker) => Box::new(Both(recording, speaker)),
            Err(e) => {
                log::warn!("call {call}: no speaker ({e}); received audio is not played");
                recording
            }
        }
    }
}

/// Two sinks fed the same audio (a recording and the speaker).
pub struct Both(pub Box<dyn AudioSink>, pub Box<dyn AudioSink>);

impl AudioSink for Both {
    fn write(&mut self, pcm: &[i16]) {
        self.0.write(pcm);
        self.1.write(pcm);
    }

    fn finish(&mut self) {
        self.0.finish();
        self.1.finish();
    }
}

pub struct NullSink;

impl AudioSink for NullSink {
    fn write(&mut self, _pcm: &[i16]) {}
    fn finish(&mut self) {}
}

/// Mono 16-bit PCM at the call's rate: 8 kHz for G.711, 16 kHz for G.722
/// and Opus.
pub struct WavRecorder {
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
    path: PathBuf,
}

impl WavRecorder {
    pub fn create(path: &Path, rate: Rate) -> Result<WavRecorder, SinkError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate.hz(),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|source| SinkError::Create {
            path: path.to_owned(),
            source,
        })?;
        Ok(WavRecorder {
            writer: Some(writer),
            path: path.to_owned(),
        })
    }
}

impl AudioSink for WavRecorder {
    fn write(&mut self, pcm: &[i16]) {
        if let Some(writer) = self.writer.as_mut() {
            for &sample in pcm {
                if let Err(e) = writer.write_sample(sample) {
                    log::warn!("recording to {} stopped: {e}", self.path.display());
                    self.writer = None;
                    return;
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(e) = writer.finalize() {
                log::warn!("recording {} is incomplete: {e}", self.path.display());
            }
        }
    }
}

impl Drop for WavRecorder {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!("null".parse::<SinkSpec>().unwrap(), SinkSpec::Null);
        assert_eq!(
            "wav:/tmp/{call}.wav".parse::<SinkSpec>().unwrap(),
            SinkSpec::Wav("/tmp/{call}.wav".into())
        );
        assert!("speaker".parse::<SinkSpec>().is_err());
        assert_eq!("none".parse::<PlaybackSpec>().unwrap(), PlaybackSpec::None);
        assert_eq!(
            "device".parse::<PlaybackSpec>().unwrap(),
            PlaybackSpec::Device(DeviceSpec { name: None })
        );
        let err = "speaker".parse::<PlaybackSpec>().unwrap_err().to_string();
        assert!(err.contains("device:NAME"), "{err}");
    }

    #[test]
    fn a_missing_speaker_keeps_the_recording() {
        let playback = PlaybackSpec::Device(DeviceSpec {
            name: Some("no-such-card".into()),
        });
        let mut sink = playback.with_recording("c1", Rate::Wide, Box::new(NullSink));
        sink.write(&[1, 2, 3]);
        sink.finish();
    }

    #[test]
    fn recording_is_a_readable_wav() {
        let dir = std::env::temp_dir().join(format!("tandem-sink-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec: SinkSpec = format!("wav:{}/{{call}}.wav", dir.display())
            .parse()
            .unwrap();
        for (call, rate) in [("abc", Rate::Narrow), ("wide", Rate::Wide)] {
            let mut sink = spec.open(call, rate).unwrap();
            sink.write(&[1, 2, 3]);
            sink.finish();
            let reader = hound::WavReader::open(dir.join(format!("{call}.wav"))).unwrap();
            // The header says the rate the samples are at.
            assert_eq!(reader.spec().sample_rate, rate.hz());
            assert_eq!(reader.len(), 3);
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unwritable_path_is_named() {
        let err = SinkSpec::Wav("/nonexistent-dir/x.wav".into())
            .open("c", Rate::Narrow)
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent-dir/x.wav"), "{err}");
    }
}
