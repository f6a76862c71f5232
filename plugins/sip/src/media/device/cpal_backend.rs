//! cpal streams behind `AudioSource` and `AudioSink`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample, StreamConfig};

use super::{DeviceError, DeviceSpec};
use crate::media::audio::{AudioSink, AudioSource, Rate};
use crate::media::resample::Linear;

/// Capture kept waiting for the next frame: 3 frames. More would only add
/// delay; the media task takes one frame every 20 ms.
const CAPTURE_FRAMES: usize = 3;
/// Received audio waiting for the speaker: 10 frames, room for the bursts
/// the jitter buffer releases after a late packet.
const PLAYBACK_FRAMES: usize = 10;

/// The microphone: frames are taken from what the capture callback left.
pub struct DeviceSource {
    captured: Arc<Mutex<VecDeque<i16>>>,
    _stream: cpal::Stream,
}

impl DeviceSource {
    pub fn open(spec: &DeviceSpec, rate: Rate) -> Result<DeviceSource, DeviceError> {
        let limit = CAPTURE_FRAMES * rate.frame();
        let captured = Arc::new(Mutex::new(VecDeque::with_capacity(limit * 2)));
        let stream = start(spec, Direction::Capture, rate, captured.clone())?;
        Ok(DeviceSource {
            captured,
            _stream: stream,
        })
    }
}

impl AudioSource for DeviceSource {
    fn fill(&mut self, frame: &mut [i16]) {
        let mut captured = lock(&self.captured);
        let available = captured.len().min(frame.len());
        for (out, sample) in frame.iter_mut().zip(captured.drain(..available)) {
            *out = sample;
        }
        // Not enough captured yet (the device started late or its clock is
        // slower than ours): the rest of the frame is silence.
        frame[available..].fill(0);
    }
}

/// The speaker: received frames wait in a FIFO the playback callback drains.
pub struct DeviceSink {
    pending: Arc<Mutex<VecDeque<i16>>>,
    stream: Option<cpal::Stream>,
    /// The most samples that wait (`PLAYBACK_FRAMES` at the call's rate).
    limit: usize,
}

impl DeviceSink {
    pub fn open(spec: &DeviceSpec, rate: Rate) -> Result<DeviceSink, DeviceError> {
        let limit = PLAYBACK_FRAMES * rate.frame();
        let pending = Arc::new(Mutex::new(VecDeque::with_capacity(limit * 2)));
        let stream = start(spec, Direction::Playback, rate, pending.clone())?;
        Ok(DeviceSink {
            pending,
            stream: Some(stream),
            limit,
        })
    }
}

impl AudioSink for DeviceSink {
    fn write(&mut self, pcm: &[i16]) {
        let mut pending = lock(&self.pending);
        pending.extend(pcm);
        let excess = pending.len().saturating_sub(self.limit);
        pending.drain(..excess);
    }

    fn finish(&mut self) {
        self.stream = None;
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Capture,
    Playback,
}

impl Direction {
    fn what(self) -> &'static str {
        match self {
            Direction::Capture => "microphone",
            Direction::Playback => "speaker",
        }
    }
}

/// Calls `$stream::<T>(args)` with `T` the Rust type of `$format`.
macro_rules! by_format {
    ($format:expr, $stream:ident, $($arg:expr),*) => {
        match $format {
            SampleFormat::I16 => $stream::<i16>($($arg),*),
            SampleFormat::I32 => $stream::<i32>($($arg),*),
            SampleFormat::U16 => $stream::<u16>($($arg),*),
            _ => $stream::<f32>($($arg),*),
        }
    };
}

/// Opens the device, picks its configuration, and starts a stream that
/// fills (capture) or drains (playback) `fifo` at the call's `rate`.
fn start(
    spec: &DeviceSpec,
    direction: Direction,
    rate: Rate,
    fifo: Arc<Mutex<VecDeque<i16>>>,
) -> Result<cpal::Stream, DeviceError> {
    let backend = |source| DeviceError::Backend {
        name: spec.label().to_owned(),
        source,
    };
    let device = find(spec, direction)?;
    let (config, format) = match direction {
        Direction::Capture => choose(
            device.supported_input_configs().map_err(backend)?,
            device.default_input_config().map_err(backend)?,
            rate,
        ),
        Direction::Playback => choose(
            device.supported_output_configs().map_err(backend)?,
            device.default_output_config().map_err(backend)?,
            rate,
        ),
    };
    let stream = match direction {
        Direction::Capture => by_format!(format, capture, &device, &config, rate, fifo),
        Direction::Playback => by_format!(format, playback, &device, &config, rate, fifo),
    }
    .map_err(backend)?;
    stream.play().map_err(backend)?;
    log::info!(
        "{} {:?}: {} Hz, {} channel(s), {format:?}, period {:?}",
        direction.what(),
        spec.label(),
        config.sample_rate,
        config.channels,
        config.buffer_size
    );
    Ok(stream)
}

fn find(spec: &DeviceSpec, direction: Direction) -> Result<cpal::Device, DeviceError> {
    let host = cpal::default_host();
    let Some(name) = &spec.name else {
        return match direction {
            Direction::Capture => host.default_input_device(),
            Direction::Playback => host.default_output_device(),
        }
        .ok_or(DeviceError::NoDefault(match direction {
            Direction::Capture => "input",
            Direction::Playback => "output",
        }));
    };
    let devices: Vec<cpal::Device> = host
        .devices()
        .map_err(|source| DeviceError::Backend {
            name: name.clone(),
            source,
        })?
        .collect();
    let id_of = |device: &cpal::Device| device.id().map(|id| id.id().to_owned()).ok();
    if let Some(device) = devices.iter().find(|d| id_of(d).as_deref() == Some(name)) {
        return Ok(device.clone());
    }
    Err(DeviceError::NotFound {
        name: name.clone(),
        known: devices
            .iter()
            .filter_map(id_of)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Mono at the call's rate when the device offers it (the sound server or
/// ALSA's plug layer then converts better than we would), the device's
/// default otherwise, which we mix and resample.
fn choose(
    supported: impl Iterator<Item = cpal::SupportedStreamConfigRange>,
    default: cpal::SupportedStreamConfig,
    rate: Rate,
) -> (StreamConfig, SampleFormat) {
    let call_rate = rate.hz();
    let usable = |f: SampleFormat| {
        matches!(
            f,
            SampleFormat::I16 | SampleFormat::I32 | SampleFormat::U16 | SampleFormat::F32
        )
    };
    let exact = supported
        .filter(|range| {
            range.channels() == 1
                && usable(range.sample_format())
                && range.min_sample_rate() <= call_rate
                && call_rate <= range.max_sample_rate()
        })
        .min_by_key(|range| range.sample_format() != SampleFormat::I16);
    let chosen = match exact {
        Some(range) => range.with_sample_rate(call_rate),
        None => default,
    };
    let format = chosen.sample_format();
    let mut config = chosen.config();
    // Periods of one frame (20 ms): a sound server's default period can be
    // a second long, far more delay than a conversation bears.
    if let cpal::SupportedBufferSize::Range { min, max } = *chosen.buffer_size() {
        let frame = (config.sample_rate / 50).clamp(min, max.max(min));
        config.buffer_size = cpal::BufferSize::Fixed(frame);
    }
    (config, format)
}

fn capture<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    call: Rate,
    captured: Arc<Mutex<VecDeque<i16>>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let rate = config.sample_rate.max(1) as usize;
    let mut resampler = Linear::new(config.sample_rate, call.hz());
    let frames = CAPTURE_FRAMES * call.frame();
    device.build_input_stream(
        *config,
        move |data: &[T], _| {
            let mut captured = lock(&captured);
            for frame in data.chunks(channels) {
                let mono =
                    frame.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / channels as f32;
                resampler.push(mono, |out| captured.push_back(i16::from_sample(out)));
            }
            // At most a few frames wait; a device whose periods are longer
            // than that keeps one period.
            let limit = frames.max(data.len() / channels * call.hz() as usize / rate);
            let excess = captured.len().saturating_sub(limit);
            captured.drain(..excess);
        },
        reporter(Direction::Capture.what()),
        None,
    )
}

fn playback<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    call: Rate,
    pending: Arc<Mutex<VecDeque<i16>>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = Linear::new(call.hz(), config.sample_rate);
    device.build_output_stream(
        *config,
        move |data: &mut [T], _| {
            let mut pending = lock(&pending);
            for frame in data.chunks_mut(channels) {
                let sample = resampler.pull(|| {
                    pending
                        .pop_front()
                        .map_or(0.0, |s: i16| s.to_sample::<f32>())
                });
                frame.fill(T::from_sample(sample));
            }
        },
        reporter(Direction::Playback.what()),
        None,
    )
}

/// Logs a stream's errors without flooding the log: a sound server that is
/// still starting the stream can fail the same call thousands of times a
/// second, so only the 1st, 2nd, 4th, 8th, ... are written, with the count.
fn reporter(what: &'static str) -> impl FnMut(cpal::Error) + Send + 'static {
    let mut errors = tandem_sdk::util::Throttle::new();
    move |e| {
        if let Some(count) = errors.hit() {
            log::warn!("{what}: {e} ({count} so far)");
        }
    }
}

fn lock(fifo: &Mutex<VecDeque<i16>>) -> MutexGuard<'_, VecDeque<i16>> {
    fifo.lock().unwrap_or_else(|e| e.into_inner())
}
