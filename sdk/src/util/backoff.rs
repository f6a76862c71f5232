//! How long to wait before trying again after failures: `base` doubling per
//! failure, capped at `max` (RFC 5626 §4.5's formula), optionally scaled by
//! a random factor between 50 % and 100 % so that many clients cut off
//! together (a server restart) do not all come back in the same instant.
//!
//! Used by the XMPP plugin's reconnection ([`delay`]) and the SIP
//! registration's retries ([`Backoff::ceiling`] with
//! [`Backoff::SIP_REGISTER`], rsipstack's own figures).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A back-off policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// rsipstack's REGISTER back-off: 1 s doubling, capped at 60 s.
    pub const SIP_REGISTER: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    pub const fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max }
    }

    /// `min(max, base * 2^failures)`, without jitter: `failures` 0 is
    /// `base`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        self.base
            .checked_mul(2u32.saturating_pow(failures.min(31)))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// [`Backoff::ceiling`] scaled by a random factor in [50 %, 100 %].
    pub fn jittered(&self, failures: u32) -> Duration {
        self.ceiling(failures)
            .mul_f64(0.5 + 0.5 * random_fraction())
    }
}

/// `Backoff::new(base, max).jittered(failures)`: the XMPP plugin's
/// reconnection delay.
pub fn delay(failures: u32, base: Duration, max: Duration) -> Duration {
    Backoff::new(base, max).jittered(failures)
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

    /// The same waits as rsipstack's `backoff_interval`, which the SIP
    /// registration uses today: 1, 2, 4 ... 32, then 60 s.
    #[test]
    fn the_sip_register_policy_matches_rsipstack() {
        let waits: Vec<u64> = (0..10)
            .map(|n| Backoff::SIP_REGISTER.ceiling(n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(Backoff::SIP_REGISTER.ceiling(u32::MAX).as_secs(), 60);
    }
}
