//! The sound device: the microphone as a call's source and the speaker as
//! its sink, through cpal (ALSA on Linux).
//!
//! The media task works in 20 ms mono frames at the call's rate (8 or
//! 16 kHz) on its own clock; the
//! device pulls and pushes on the sound card's clock, at its own rate and
//! channel count. Between the two sits a short FIFO per direction, bounded
//! so that latency cannot grow: when one clock runs ahead of the other the
//! oldest audio is dropped (capture) or silence is played (playback), which
//! a listener hears as a click rather than as a call drifting seconds late.

use super::audio::{AudioSink, AudioSource, Rate};

#[cfg(feature = "sound-device")]
mod cpal_backend;

/// Which sound device: the system's default or one by its ALSA name
/// (as ALSA names it, e.g. `sysdefault:CARD=PCH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub name: Option<String>,
}

impl DeviceSpec {
    /// `device` or `device:NAME`; anything else is not a device.
    pub fn parse(spec: &str) -> Option<DeviceSpec> {
        match spec.split_once(':') {
            None if spec == "device" => Some(DeviceSpec { name: None }),
            Some(("device", name)) if !name.is_empty() => Some(DeviceSpec {
                name: Some(name.to_owned()),
            }),
            _ => None,
        }
    }

    pub(super) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }
}

/// A sound device that cannot be used; the call goes on without it.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("sound device {name:?} not found (devices: {known})")]
    NotFound { name: String, known: String },
    #[error("no default {0} sound device")]
    NoDefault(&'static str),
    #[cfg(feature = "sound-device")]
    #[error("sound device {name:?}: {source}")]
    Backend { name: String, source: cpal::Error },
    #[cfg(not(feature = "sound-device"))]
    #[error("sound device {0:?}: this Tandem was built without sound devices (cargo feature `sound-device`)")]
    NotBuilt(String),
}

/// Opens the microphone, giving frames at `rate`.
pub fn open_source(spec: &DeviceSpec, rate: Rate) -> Result<Box<dyn AudioSource>, DeviceError> {
    #[cfg(feature = "sound-device")]
    return Ok(Box::new(cpal_backend::DeviceSource::open(spec, rate)?));
    #[cfg(not(feature = "sound-device"))]
    return Err(DeviceError::NotBuilt(unused(spec, rate)));
}

/// Opens the speaker, taking frames at `rate`.
pub fn open_sink(spec: &DeviceSpec, rate: Rate) -> Result<Box<dyn AudioSink>, DeviceError> {
    #[cfg(feature = "sound-device")]
    return Ok(Box::new(cpal_backend::DeviceSink::open(spec, rate)?));
    #[cfg(not(feature = "sound-device"))]
    return Err(DeviceError::NotBuilt(unused(spec, rate)));
}

/// The device's name for a build without devices, where `rate` is moot.
#[cfg(not(feature = "sound-device"))]
fn unused(spec: &DeviceSpec, _rate: Rate) -> String {
    spec.label().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(DeviceSpec::parse("device"), Some(DeviceSpec { name: None }));
        assert_eq!(
            DeviceSpec::parse("device:hw:CARD=PCH,DEV=0"),
            Some(DeviceSpec {
                name: Some("hw:CARD=PCH,DEV=0".into())
            })
        );
        assert_eq!(DeviceSpec::parse("device:"), None);
        assert_eq!(DeviceSpec::parse("devices"), None);
    }

    #[test]
    fn an_unknown_device_lists_the_known_ones() {
        let spec = DeviceSpec::parse("device:no-such-card").unwrap();
        let err = open_source(&spec, Rate::Wide)
            .err()
            .expect("no such device");
        let text = err.to_string();
        assert!(text.contains("\"no-such-card\""), "{text}");
    }
}
