//! RFC 3550 receive statistics: loss from extended sequence numbers,
//! interarrival jitter (§6.4.1, A.8), and our own send pacing.

use std::time::Instant;

use tandem_sdk::events::sip::MediaStats;

const CLOCK_RATE: f64 = 8000.0;

#[derive(Debug)]
pub struct ReceiveStats {
    started: Instant,
    /// The stream (SSRC) being counted; a new one starts a new count.
    ssrc: Option<u32>,
    /// Loss of the streams before this one.
    earlier_lost: u64,
    pub packets: u64,
    /// Packets of the current stream.
    stream_packets: u64,
    pub bytes: u64,
    base: Option<u64>,
    highest: u64,
    /// Previous (arrival, timestamp) in timestamp units.
    last_transit: Option<f64>,
    /// Interarrival jitter in timestamp units.
    jitter: f64,
}

impl Default for ReceiveStats {
    fn default() -> Self {
        ReceiveStats {
            started: Instant::now(),
            ssrc: None,
            earlier_lost: 0,
            packets: 0,
            stream_packets: 0,
            bytes: 0,
            base: None,
            highest: 0,
            last_transit: None,
            jitter: 0.0,
        }
    }
}

impl ReceiveStats {
    /// A packet from stream `ssrc`. Sequence numbers and timestamps are per
    /// stream (RFC 3550 §8), so a new SSRC (a re-INVITE, a DTMF generator
    /// with its own stream) starts counting afresh; loss adds up.
    pub fn on_ssrc(&mut self, ssrc: u32) -> bool {
        if self.ssrc == Some(ssrc) {
            return false;
        }
        if self.ssrc.is_some() {
            self.earlier_lost += self.stream_lost();
        }
        self.ssrc = Some(ssrc);
        self.base = None;
        self.highest = 0;
        self.stream_packets = 0;
        self.last_transit = None;
        true
    }

    pub fn on_packet(&mut self, extended_seq: u64, timestamp: u32, bytes: usize, now: Instant) {
        self.packets += 1;
        self.stream_packets += 1;
        self.bytes += bytes as u64;
        let base = *self.base.get_or_insert(extended_seq);
        if extended_seq < base {
            self.base = Some(extended_seq);
        }
        self.highest = self.highest.max(extended_seq);
        let arrival = now.duration_since(self.started).as_secs_f64() * CLOCK_RATE;
        let transit = arrival - f64::from(timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // Timestamps jump at talkspurts and wraps; ignore absurd steps.
            if d < CLOCK_RATE * 10.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);
    }

    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |base| self.highest - base + 1)
    }

    fn stream_lost(&self) -> u64 {
        self.expected().saturating_sub(self.stream_packets)
    }

    pub fn lost(&self) -> u64 {
        self.earlier_lost + self.stream_lost()
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter / CLOCK_RATE * 1000.0
    }

    pub fn jitter_units(&self) -> u32 {
        self.jitter as u32
    }

    pub fn highest(&self) -> u64 {
        self.highest
    }
}

/// How late each send was against its 20 ms deadline, for the p99 that the
/// load test reports.
#[derive(Debug, Default)]
pub struct SendPacing {
    /// Lateness in microseconds, newest last; bounded.
    lateness_us: Vec<u32>,
}

const PACING_WINDOW: usize = 4096;

impl SendPacing {
    pub fn record(&mut self, late_us: u64) {
        if self.lateness_us.len() == PACING_WINDOW {
            self.lateness_us.remove(0);
        }
        self.lateness_us
            .push(late_us.min(u64::from(u32::MAX)) as u32);
    }

    pub fn p99_us(&self) -> u32 {
        let mut sorted = self.lateness_us.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => 0,
            n => sorted[(n * 99 / 100).min(n - 1)],
        }
    }
}

/// Everything the media loop counts; snapshot into the SDK's [`MediaStats`].
#[derive(Debug, Default)]
pub struct Counters {
    pub codec: &'static str,
    /// The SRTP suite, empty for plain RTP.
    pub encryption: &'static str,
    /// Packets dropped because they failed SRTP authentication or replay checks.
    pub rejected: u64,
    pub sent: u64,
    pub sent_bytes: u64,
    pub receive: ReceiveStats,
    pub dtmf: String,
    pub rtcp_received: u64,
    pub pacing: SendPacing,
}

impl Counters {
    pub fn snapshot(&self) -> MediaStats {
        MediaStats {
            codec: self.codec.to_owned(),
            packets_sent: self.sent,
            packets_received: self.receive.packets,
            packets_lost: self.receive.lost(),
            jitter_ms: (self.receive.jitter_ms() * 1000.0).round() / 1000.0,
            dtmf_received: self.dtmf.clone(),
            encryption: self.encryption.to_owned(),
            packets_rejected: self.rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn loss_is_expected_minus_received() {
        let mut stats = ReceiveStats::default();
        let now = Instant::now();
        for seq in [10u64, 11, 13, 14] {
            stats.on_packet(seq, (seq * 160) as u32, 172, now);
        }
        assert_eq!((stats.expected(), stats.packets, stats.lost()), (5, 4, 1));
    }

    #[test]
    fn a_new_stream_is_counted_apart() {
        let mut stats = ReceiveStats::default();
        let now = Instant::now();
        stats.on_ssrc(1);
        for seq in [100u64, 101, 103] {
            stats.on_packet(seq, 0, 172, now);
        }
        assert!(stats.on_ssrc(2));
        assert!(!stats.on_ssrc(2));
        for seq in [50_000u64, 50_001] {
            stats.on_packet(seq, 0, 172, now);
        }
        assert_eq!((stats.packets, stats.lost()), (5, 1));
    }

    #[test]
    fn steady_arrivals_have_no_jitter_and_irregular_ones_do() {
        let start = Instant::now();
        let mut steady = ReceiveStats {
            started: start,
            ..ReceiveStats::default()
        };
        let mut irregular = ReceiveStats {
            started: start,
            ..ReceiveStats::default()
        };
        for i in 0..100u32 {
            let at = start + Duration::from_millis(20 * u64::from(i));
            steady.on_packet(u64::from(i), i * 160, 172, at);
            let wobble = Duration::from_millis(if i % 2 == 0 { 0 } else { 8 });
            irregular.on_packet(u64::from(i), i * 160, 172, at + wobble);
        }
        assert!(steady.jitter_ms() < 0.01, "{}", steady.jitter_ms());
        assert!(irregular.jitter_ms() > 4.0, "{}", irregular.jitter_ms());
    }

    #[test]
    fn pacing_p99() {
        let mut pacing = SendPacing::default();
        assert_eq!(pacing.p99_us(), 0);
        for i in 0..1000 {
            pacing.record(if i == 500 { 9000 } else { 100 });
        }
        assert_eq!(pacing.p99_us(), 100);
        for _ in 0..20 {
            pacing.record(5000);
        }
        assert_eq!(pacing.p99_us(), 5000);
    }
}
