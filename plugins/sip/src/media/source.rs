//! What a call sends: a tone, a WAV file, silence or the microphone, in
//! frames at the call's rate (`Rate`, from its codec).

use std::path::{Path, PathBuf};

use super::device::{self, DeviceError, DeviceSpec};
use super::resample::resample;

pub use super::audio::{AudioSource, Rate};

/// A source as configured (`silence`, `tone:440`, `wav:/path.wav`,
/// `device`, `device:NAME`).
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    Silence,
    Tone(f64),
    Wav(PathBuf),
    Device(DeviceSpec),
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "source {0:?}: use \"silence\", \"tone:HZ\", \"wav:/path/file.wav\", \"device\" or \"device:NAME\""
    )]
    Spec(String),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("cannot read {path}: {source}")]
    Wav { path: PathBuf, source: hound::Error },
    #[error("{path}: {reason}")]
    WavFormat { path: PathBuf, reason: String },
}

impl std::str::FromStr for SourceSpec {
    type Err = SourceError;

    fn from_str(spec: &str) -> Result<Self, SourceError> {
        let bad = || SourceError::Spec(spec.to_owned());
        if let Some(device) = DeviceSpec::parse(spec) {
            return Ok(SourceSpec::Device(device));
        }
        match spec.split_once(':') {
            None if spec == "silence" => Ok(SourceSpec::Silence),
            Some(("tone", hz)) => {
                let hz: f64 = hz.parse().map_err(|_| bad())?;
                // Up to what a wideband call carries; a narrowband call
                // sends silence for a tone it cannot carry (`Tone::new`).
                (hz > 0.0 && hz < Rate::Wide.nyquist())
                    .then_some(SourceSpec::Tone(hz))
                    .ok_or_else(bad)
            }
            Some(("wav", path)) if !path.is_empty() => Ok(SourceSpec::Wav(path.into())),
            _ => Err(bad()),
        }
    }
}

impl SourceSpec {
    /// Opens the source to give frames at `rate`; a WAV file is read and
    /// checked here, so a bad file fails the call set-up with its name
    /// rather than sending silence.
    pub fn open(&self, rate: Rate) -> Result<Box<dyn AudioSource>, SourceError> {
        Ok(match self {
            SourceSpec::Silence => Box::new(Silence),
            SourceSpec::Tone(hz) => Box::new(Tone::new(*hz, 8000.0, rate)),
            SourceSpec::Wav(path) => Box::new(WavLoop::open(path, rate)?),
            SourceSpec::Device(spec) => device::open_source(spec, rate)?,
        })
    }

    /// Opens the source for a call. A sound device is optional at run time
    /// (unplugged, busy, none on a server): the call still goes ahead,
    /// sending silence, and the log says why.
    pub fn open_for_call(
        &self,
        call: &str,
        rate: Rate,
    ) -> Result<Box<dyn AudioSource>, SourceError> {
        match self.open(rate) {
            Err(SourceError::Device(e)) => {
                log::warn!("call {call}: no microphone ({e}); the call sends silence");
                Ok(Box::new(Silence))
            }
            other => other,
        }
    }
}

pub struct Silence;

impl AudioSource for Silence {
    fn fill(&mut self, frame: &mut [i16]) {
        frame.fill(0);
    }
}

/// A sine wave whose phase carries over from frame to frame (no clicks).
/// A tone at or above half the rate cannot be carried (it would alias to
/// another tone): it is silence instead.
pub struct Tone {
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl Tone {
    pub fn new(hz: f64, amplitude: f64, rate: Rate) -> Tone {
        let carried = hz < rate.nyquist();
        Tone {
            step: std::f64::consts::TAU * hz / f64::from(rate.hz()),
            phase: 0.0,
            amplitude: if carried { amplitude } else { 0.0 },
        }
    }
}

impl AudioSource for Tone {
    fn fill(&mut self, frame: &mut [i16]) {
        for sample in frame {
            *sample = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + self.step) % std::f64::consts::TAU;
        }
    }
}

/// A WAV file played in a loop. Mono 16-bit at the call's rate is taken
/// as is; other rates and channel counts are mixed down and resampled
/// (linear) once, at open.
pub struct WavLoop {
    samples: Vec<i16>,
    position: usize,
}

impl WavLoop {
    pub fn open(path: &Path, rate: Rate) -> Result<WavLoop, SourceError> {
        let wav_error = |source| SourceError::Wav {
            path: path.to_owned(),
            source,
        };
        let reader = hound::WavReader::open(path).map_err(wav_error)?;
        let spec = reader.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(SourceError::WavFormat {
                path: path.to_owned(),
                reason: format!(
                    "{}-bit {:?} samples; Tandem plays 16-bit PCM WAV files",
                    spec.bits_per_sample, spec.sample_format
                ),
            });
        }
        let raw: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(wav_error)?;
        let channels = usize::from(spec.channels.max(1));
        let mono: Vec<i16> = raw
            .chunks(channels)
            .map(|c| (c.iter().map(|&s| i32::from(s)).sum::<i32>() / c.len() as i32) as i16)
            .collect();
        let samples = resample(&mono, spec.sample_rate, rate.hz());
        if samples.is_empty() {
            return Err(SourceError::WavFormat {
                path: path.to_owned(),
                reason: "no audio in the file".into(),
            });
        }
        Ok(WavLoop {
            samples,
            position: 0,
        })
    }
}

impl AudioSource for WavLoop {
    fn fill(&mut self, frame: &mut [i16]) {
        for sample in frame {
            *sample = self.samples[self.position];
            self.position = (self.position + 1) % self.samples.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_say_what_is_expected() {
        assert_eq!(
            "silence".parse::<SourceSpec>().unwrap(),
            SourceSpec::Silence
        );
        assert_eq!(
            "tone:440".parse::<SourceSpec>().unwrap(),
            SourceSpec::Tone(440.0)
        );
        assert!(matches!(
            "wav:/a.wav".parse::<SourceSpec>().unwrap(),
            SourceSpec::Wav(_)
        ));
        assert_eq!(
            "device:hw:0".parse::<SourceSpec>().unwrap(),
            SourceSpec::Device(DeviceSpec {
                name: Some("hw:0".into())
            })
        );
        assert_eq!(
            "tone:6000".parse::<SourceSpec>().unwrap(),
            SourceSpec::Tone(6000.0)
        );
        for bad in ["tone:", "tone:9000", "noise", "wav:", "device:"] {
            let err = bad.parse::<SourceSpec>().unwrap_err().to_string();
            assert!(err.contains("tone:HZ"), "{bad}: {err}");
        }
    }

    #[test]
    fn tone_is_continuous_across_frames() {
        for rate in [Rate::Narrow, Rate::Wide] {
            let mut tone = Tone::new(1000.0, 8000.0, rate);
            let mut a = vec![0i16; rate.frame()];
            let mut b = vec![0i16; rate.frame()];
            tone.fill(&mut a);
            tone.fill(&mut b);
            // 1000 Hz repeats every 8 (16) samples; a frame is a multiple.
            assert_eq!(a, b);
            assert!(a.iter().any(|&s| s > 7000));
        }
    }

    #[test]
    fn a_tone_is_made_at_the_call_rate_or_not_at_all() {
        use crate::media::analysis::dominant;
        let mut wide = vec![0i16; 16000];
        Tone::new(6000.0, 8000.0, Rate::Wide).fill(&mut wide);
        assert_eq!(dominant(&wide, &[2000.0, 6000.0], 16000.0), Some(6000.0));
        // 8 kHz cannot carry 6 kHz: silence, not its 2 kHz alias.
        let mut narrow = vec![1i16; 8000];
        Tone::new(6000.0, 8000.0, Rate::Narrow).fill(&mut narrow);
        assert!(narrow.iter().all(|&s| s == 0));
    }

    #[test]
    fn a_wav_file_is_resampled_to_the_call_rate() {
        let dir = std::env::temp_dir().join(format!("tandem-src-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..16000 {
            writer.write_sample((i % 100) as i16).unwrap();
        }
        writer.finalize().unwrap();
        // At 16 kHz, as it is: sample for sample.
        let mut frame = vec![0i16; Rate::Wide.frame()];
        WavLoop::open(&path, Rate::Wide).unwrap().fill(&mut frame);
        assert_eq!(frame[..100], (0..100).collect::<Vec<i16>>()[..]);
        // At 8 kHz, one second is 8000 samples: half as many.
        let narrow = WavLoop::open(&path, Rate::Narrow).unwrap();
        assert_eq!(narrow.samples.len(), 8000);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_device_leaves_the_call_with_silence() {
        let spec = SourceSpec::Device(DeviceSpec {
            name: Some("no-such-card".into()),
        });
        assert!(matches!(
            spec.open(Rate::Narrow),
            Err(SourceError::Device(_))
        ));
        let mut source = spec
            .open_for_call("c1", Rate::Wide)
            .expect("silence instead");
        let mut frame = [1i16; 320];
        source.fill(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
        // A WAV file that is missing is still an error: that is a typo to
        // fix, not hardware that may come and go.
        let wav = SourceSpec::Wav("/nonexistent/x.wav".into());
        assert!(wav.open_for_call("c1", Rate::Narrow).is_err());
    }

    #[test]
    fn missing_wav_names_the_file() {
        let err = SourceSpec::Wav("/nonexistent/x.wav".into())
            .open(Rate::Narrow)
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/x.wav"), "{err}");
    }
}
