//! How long to wait before the next connection attempt: RFC 5626 §4.5's
//! formula, `min(max, base * 2^failures)` scaled by a random factor between
//! 50 % and 100 %, so that many sidecars cut off together (a server
//! restart) do not all come back in the same instant.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

pub fn delay(failures: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base
        .checked_mul(2u32.saturating_pow(failures.min(31)))
        .unwrap_or(max)
        .min(max);
    ceiling.mul_f64(0.5 + 0.5 * random_fraction())
}

/// A number in [0, 1): the std hasher is seeded randomly per process, and
/// mixing in the time makes each call differ. Jitter needs no more.
fn random_fraction() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_within_half_to_full_and_is_bounded() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for failures in 0..40 {
            let d = delay(failures, base, max);
            let ceiling = (base * 2u32.saturating_pow(failures.min(31))).min(max);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{failures}: {d:?} vs {ceiling:?}"
            );
        }
        assert!(delay(100, base, max) <= max);
    }
}
