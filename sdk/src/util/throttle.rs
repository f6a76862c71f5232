//! Power-of-two log throttling: of a repeated kind of trouble (a refused
//! datagram, a full queue, a failing sound stream) log the 1st, 2nd, 4th,
//! 8th ... occurrence, so a flood of a million costs twenty lines and the
//! count in each line says how bad it is.
//!
//! Used by the SIP plugin's doors and gates ([`worth_logging`]), its sound
//! device's error reporter ([`Throttle`]) and the host bus's dropped-event
//! warning: one rule, so every log reads the same way.

use std::sync::atomic::{AtomicU64, Ordering};

/// Whether the `n`th occurrence (counting from 1) is logged.
pub fn worth_logging(n: u64) -> bool {
    n.is_power_of_two()
}

/// A shared counter that says when to log (for `&self` code paths).
#[derive(Debug, Default)]
pub struct LogThrottle {
    count: AtomicU64,
}

impl LogThrottle {
    pub const fn new() -> LogThrottle {
        LogThrottle {
            count: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence; `Some(count so far)` when it is worth logging.
    pub fn hit(&self) -> Option<u64> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        worth_logging(n).then_some(n)
    }

    /// Occurrences so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// An unshared counter that says when to log (for `FnMut` callbacks).
#[derive(Debug, Default, Clone)]
pub struct Throttle {
    count: u64,
}

impl Throttle {
    pub const fn new() -> Throttle {
        Throttle { count: 0 }
    }

    /// Counts one occurrence; `Some(count so far)` when it is worth logging.
    pub fn hit(&mut self) -> Option<u64> {
        self.count += 1;
        worth_logging(self.count).then_some(self.count)
    }

    /// Occurrences so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_powers_of_two() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| worth_logging(n)).collect();
        assert_eq!(logged, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
        assert!(!worth_logging(0));
        let shared = LogThrottle::new();
        let hits: Vec<u64> = (0..20).filter_map(|_| shared.hit()).collect();
        assert_eq!((hits, shared.count()), (vec![1, 2, 4, 8, 16], 20));
        let mut own = Throttle::new();
        let hits: Vec<u64> = (0..9).filter_map(|_| own.hit()).collect();
        assert_eq!((hits, own.count()), (vec![1, 2, 4, 8], 9));
    }
}
