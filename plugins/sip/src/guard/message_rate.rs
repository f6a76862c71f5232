//! How many MESSAGEs one source may send (`message_rate`, `message_burst`):
//! a token bucket per source, so that one peer writing in a loop cannot
//! flood the user's client while everyone else still gets through.
//!
//! A source is the sender's address when the registrar vouches for it
//! (everyone on the user's SIP service comes from the registrar's address,
//! so counting by address would make one chatty colleague silence all the
//! others), else the IP address the MESSAGE came from (a From header is
//! written by the sender and would let a flood pose as many peers).
//! Sources are remembered in a bounded map: a flood from ever new
//! addresses forgets the oldest rather than growing.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use tandem_sdk::util::BoundedMap;

/// How many sources are remembered at once.
const SOURCES: usize = 1024;

/// Whom a MESSAGE is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A sender the registrar vouches for, by its SIP URI.
    Sender(String),
    /// Anyone else, by the IP address it came from.
    Address(IpAddr),
}

/// The limit: `rate` MESSAGEs a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of the sources seen lately; `None` limit: no limit.
pub struct MessageRate {
    limit: Option<Limit>,
    buckets: Mutex<BoundedMap<Source, Bucket>>,
}

impl MessageRate {
    /// `rate` 0 switches the limit off.
    pub fn new(rate: f64, burst: u32) -> MessageRate {
        let limit = (rate > 0.0).then(|| Limit {
            rate,
            burst: f64::from(burst.max(1)),
        });
        MessageRate {
            limit,
            buckets: Mutex::new(BoundedMap::new(SOURCES)),
        }
    }

    /// Takes one MESSAGE from `source` at `now`: `Ok` when it is within the
    /// limit, else the whole seconds after which one more would be (for
    /// `Retry-After`).
    pub fn take(&self, source: Source, now: Instant) -> Result<(), u32> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut bucket = buckets.remove(&source).unwrap_or(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rate).min(limit.burst);
        bucket.at = now;
        let verdict = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.rate;
            Err((wait.ceil() as u32).max(1))
        };
        buckets.insert(source, bucket);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn from(ip: [u8; 4]) -> Source {
        Source::Address(IpAddr::from(ip))
    }

    #[test]
    fn a_burst_passes_then_the_rate_and_other_sources_are_not_affected() {
        let limit = MessageRate::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.take(from([10, 0, 0, 1]), t0), Ok(()));
        }
        assert_eq!(limit.take(from([10, 0, 0, 1]), t0), Err(1));
        // Another source, and a vouched sender behind the registrar.
        assert_eq!(limit.take(from([10, 0, 0, 2]), t0), Ok(()));
        assert_eq!(limit.take(Source::Sender("sip:bob@x".into()), t0), Ok(()));
        // Half a second later one more (2 a second).
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limit.take(from([10, 0, 0, 1]), later), Ok(()));
        assert_eq!(limit.take(from([10, 0, 0, 1]), later), Err(1));
    }

    #[test]
    fn the_wait_is_whole_seconds_and_rate_zero_is_no_limit() {
        let slow = MessageRate::new(0.1, 1);
        let t0 = Instant::now();
        assert_eq!(slow.take(from([10, 0, 0, 1]), t0), Ok(()));
        assert_eq!(slow.take(from([10, 0, 0, 1]), t0), Err(10));
        let off = MessageRate::new(0.0, 1);
        for _ in 0..100 {
            assert_eq!(off.take(from([10, 0, 0, 1]), t0), Ok(()));
        }
    }

    #[test]
    fn sources_are_bounded() {
        let limit = MessageRate::new(1.0, 1);
        let t0 = Instant::now();
        for n in 0..(SOURCES as u32 + 10) {
            let _ = limit.take(Source::Address(IpAddr::from(n.to_be_bytes())), t0);
        }
        assert_eq!(limit.buckets.lock().unwrap().len(), SOURCES);
    }
}
