//! Audio checks used by tests and by `tandem demo`: is this tone in that
//! recording?

/// Power of `freq` in `samples` (Goertzel algorithm), normalised by length.
pub fn goertzel_power(samples: &[i16], freq: f64, rate: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * freq / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &sample in samples {
        let s0 = f64::from(sample) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len().max(1) as f64).powi(2)
}

/// The candidate frequency with the most power in `samples`.
pub fn dominant(samples: &[i16], candidates: &[f64], rate: f64) -> Option<f64> {
    candidates.iter().copied().max_by(|a, b| {
        goertzel_power(samples, *a, rate).total_cmp(&goertzel_power(samples, *b, rate))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::source::{AudioSource, Rate, Tone};

    #[test]
    fn finds_the_tone() {
        let mut samples = vec![0i16; 8000];
        Tone::new(1000.0, 8000.0, Rate::Narrow).fill(&mut samples);
        assert_eq!(
            dominant(&samples, &[440.0, 1000.0, 2000.0], 8000.0),
            Some(1000.0)
        );
        assert!(
            goertzel_power(&samples, 1000.0, 8000.0)
                > 100.0 * goertzel_power(&samples, 440.0, 8000.0)
        );
    }
}
