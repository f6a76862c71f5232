//! Linear-interpolation sample-rate conversion, one sample at a time, so it
//! works the same on a whole WAV file and on a sound card's callbacks.
//!
//! Telephone audio is band-limited to 3.4 kHz and G.711 adds more noise
//! than linear interpolation's images, so a polyphase or FFT resampler
//! (rubato and its FFT dependencies) would buy nothing audible here.
//!
//! `Bridge` converts whole frames between the two call rates, for a call
//! whose codec changed rate after its source and sinks were opened.

use super::audio::Rate;

/// The converter's state: where the next output falls between the last two
/// input samples.
pub struct Linear {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output, counted from `previous` (0) to
    /// `current` (1).
    position: f64,
    previous: f32,
    current: f32,
}

impl Linear {
    pub fn new(from_hz: u32, to_hz: u32) -> Linear {
        Linear {
            step: f64::from(from_hz.max(1)) / f64::from(to_hz.max(1)),
            position: 1.0,
            previous: 0.0,
            current: 0.0,
        }
    }

    /// Feeds one input sample; `emit` gets the outputs it completes (none,
    /// one or several).
    pub fn push(&mut self, sample: f32, mut emit: impl FnMut(f32)) {
        while self.position <= 1.0 {
            emit(lerp(self.previous, sample, self.position));
            self.position += self.step;
        }
        self.position -= 1.0;
        self.previous = sample;
    }

    /// Produces one output sample, taking input from `next` as needed.
    pub fn pull(&mut self, mut next: impl FnMut() -> f32) -> f32 {
        while self.position > 1.0 {
            self.previous = self.current;
            self.current = next();
            self.position -= 1.0;
        }
        let out = lerp(self.previous, self.current, self.position);
        self.position += self.step;
        out
    }
}

fn lerp(a: f32, b: f32, t: f64) -> f32 {
    a + (b - a) * t as f32
}

/// A whole buffer at once (WAV files at open).
pub fn resample(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == to_hz {
        return input.to_vec();
    }
    let mut converter = Linear::new(from_hz, to_hz);
    let mut out = Vec::with_capacity(input.len() * to_hz as usize / from_hz.max(1) as usize + 1);
    for &sample in input {
        converter.push(f32::from(sample), |y| out.push(y as i16));
    }
    out
}

/// 20 ms frames from one call rate to another: the same frame when the
/// rates agree; 8 → 16 kHz by putting the midpoint from the previous
/// sample before each sample; 16 → 8 kHz by the mean of each pair (a
/// filter with its zero at 8 kHz, so the upper band folds back less than
/// plain decimation would let it). Exactly twice or half the samples, so
/// frames keep their 20 ms.
pub struct Bridge {
    from: Rate,
    to: Rate,
    /// The last input sample, to interpolate the next frame's first.
    previous: i16,
}

impl Bridge {
    pub fn new(from: Rate, to: Rate) -> Bridge {
        Bridge {
            from,
            to,
            previous: 0,
        }
    }

    pub fn from(&self) -> Rate {
        self.from
    }

    pub fn to(&self) -> Rate {
        self.to
    }

    /// `input` at `from` into `out` at `to` (cleared first).
    pub fn convert(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.clear();
        match (self.from, self.to) {
            (Rate::Narrow, Rate::Wide) => {
                for &sample in input {
                    let mid = (i32::from(self.previous) + i32::from(sample)) / 2;
                    out.extend([mid as i16, sample]);
                    self.previous = sample;
                }
            }
            (Rate::Wide, Rate::Narrow) => out.extend(
                input
                    .chunks_exact(2)
                    .map(|p| ((i32::from(p[0]) + i32::from(p[1])) / 2) as i16),
            ),
            _ => out.extend_from_slice(input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_keeps_frames_whole() {
        let narrow: Vec<i16> = (0..160).map(|i| i * 2).collect();
        let mut up = Bridge::new(Rate::Narrow, Rate::Wide);
        let mut wide = Vec::new();
        up.convert(&narrow, &mut wide);
        assert_eq!(wide.len(), Rate::Wide.frame());
        assert_eq!(&wide[..6], &[0, 0, 1, 2, 3, 4]);
        let mut down = Bridge::new(Rate::Wide, Rate::Narrow);
        let mut back = Vec::new();
        down.convert(&wide, &mut back);
        assert_eq!(back.len(), Rate::Narrow.frame());
        let mut same = Bridge::new(Rate::Narrow, Rate::Narrow);
        same.convert(&narrow, &mut back);
        assert_eq!(back, narrow);
    }

    #[test]
    fn same_rate_is_identity() {
        let input: Vec<i16> = (0..100).collect();
        let mut converter = Linear::new(8000, 8000);
        let mut out = Vec::new();
        for &s in &input {
            converter.push(f32::from(s), |y| out.push(y as i16));
        }
        assert_eq!(out, input);
    }

    #[test]
    fn down_and_up_keep_length_ratio_and_level() {
        let down = resample(&vec![1000; 4800], 48000, 8000);
        assert_eq!(down.len(), 800);
        assert!(down.iter().all(|&s| s == 1000));
        let up = resample(&vec![1000; 800], 8000, 48000);
        assert!((4795..=4800).contains(&up.len()), "{}", up.len());
        assert!(up[6..].iter().all(|&s| s == 1000));
    }

    #[test]
    fn pull_upsamples_a_ramp_between_its_points() {
        let mut converter = Linear::new(8000, 16000);
        let mut input = [0.0f32, 2.0, 4.0, 6.0].into_iter();
        let out: Vec<f32> = (0..6)
            .map(|_| converter.pull(|| input.next().unwrap_or(0.0)))
            .collect();
        // Every second output falls half way between two inputs.
        assert_eq!(&out[2..6], &[0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_tone_survives_a_round_trip() {
        let tone: Vec<i16> = (0..8000)
            .map(|i| ((i as f64 * std::f64::consts::TAU * 440.0 / 8000.0).sin() * 8000.0) as i16)
            .collect();
        let back = resample(&resample(&tone, 8000, 44100), 44100, 8000);
        let n = back.len().min(tone.len()) - 10;
        let error: f64 = (10..n)
            .map(|i| (f64::from(back[i]) - f64::from(tone[i])).abs())
            .sum::<f64>()
            / (n - 10) as f64;
        assert!(error < 200.0, "mean error {error}");
    }
}
