//! Requests refused before they become a call or an event, counted for
//! `sip.status`: INVITEs beyond `max_ringing` (486), INVITEs and
//! MESSAGEs from outside `accept_from` (403), MESSAGEs the relay could not
//! keep (503) and MESSAGEs over their source's `message_rate`. Any can
//! come as a flood,
//! so the log tells of the 1st, 2nd, 4th, 8th... of each kind only, as the
//! UDP screen does (`transport/udp.rs`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_sdk::util::worth_logging;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 486 Busy Here: `max_ringing` calls ring already.
    Busy,
    /// 403 Forbidden: the source is not in `accept_from`.
    Forbidden,
    /// 503 Service Unavailable: the relay to the user could not keep it;
    /// or 480 Temporarily Unavailable: the user switched the relay off.
    Unavailable,
    /// Over its source's `message_rate`.
    Flood,
}

#[derive(Debug, Default)]
pub struct Refusals {
    busy: AtomicU64,
    forbidden: AtomicU64,
    unavailable: AtomicU64,
    flood: AtomicU64,
}

impl Refusals {
    /// Counts one refusal and logs `what` (with the running count) when the
    /// count is a power of two; otherwise at debug level.
    pub fn count(&self, refusal: Refusal, what: fmt::Arguments<'_>) -> u64 {
        let counter = match refusal {
            Refusal::Busy => &self.busy,
            Refusal::Forbidden => &self.forbidden,
            Refusal::Unavailable => &self.unavailable,
            Refusal::Flood => &self.flood,
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if worth_logging(n) {
            log::info!("{what} ({n} so far, see sip.status)");
        } else {
            log::debug!("{what}");
        }
        n
    }

    /// INVITEs answered 486 because `max_ringing` calls were ringing.
    pub fn busy(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// INVITEs and MESSAGEs answered 403 for their source.
    pub fn forbidden(&self) -> u64 {
        self.forbidden.load(Ordering::Relaxed)
    }

    /// MESSAGEs answered 503 because the relay could not keep them.
    pub fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed)
    }

    /// MESSAGEs refused for their source's `message_rate`.
    pub fn flood(&self) -> u64 {
        self.flood.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_counted_apart() {
        let refusals = Refusals::default();
        for _ in 0..3 {
            refusals.count(Refusal::Busy, format_args!("busy"));
        }
        refusals.count(Refusal::Forbidden, format_args!("forbidden"));
        assert_eq!((refusals.busy(), refusals.forbidden()), (3, 1));
    }

    #[test]
    fn a_flood_is_logged_at_powers_of_two() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| worth_logging(n)).collect();
        assert_eq!(logged, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    }
}
