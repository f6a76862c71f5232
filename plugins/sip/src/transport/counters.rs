//! What the doors answered, dropped or refused before rsipstack saw it,
//! for `sip.status`.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the doors did, for `sip.status`.
#[derive(Debug, Default)]
pub struct Counters {
    answered: AtomicU64,
    dropped: AtomicU64,
    dropped_tcp: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    /// Malformed requests answered with 400, 501, 505 or 513, over UDP or
    /// TCP.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Datagrams dropped: too large, not SIP, or a bad request that cannot
    /// be answered (an ACK, or no Via/From/To/Call-ID/CSeq to copy).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// TCP messages dropped unanswered: the datagram's reasons, and those
    /// of a stream (no message can be framed: it closes the connection).
    pub fn dropped_tcp(&self) -> u64 {
        self.dropped_tcp.load(Ordering::Relaxed)
    }

    /// TCP and TLS connections closed at once: `max_connections` were open.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts an answer; its number.
    pub(crate) fn count_answered(&self) -> u64 {
        self.answered.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a TCP drop; its number (the log says so at the 1st, 2nd, 4th...).
    pub(crate) fn count_dropped_tcp(&self) -> u64 {
        self.dropped_tcp.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a refused connection; its number.
    pub(crate) fn count_refused(&self) -> u64 {
        self.refused.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a dropped datagram; its number.
    pub(crate) fn count_dropped(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }
}
