//! RFC 4733 telephone-events: DTMF carried in RTP instead of audio.

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl ToneEvent {
    pub fn parse(payload: &[u8]) -> Option<ToneEvent> {
        let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(ToneEvent {
            event: bytes[0],
            end: bytes[1] & 0x80 != 0,
            volume: bytes[1] & 0x3F,
            duration: u16::from_be_bytes([bytes[2], bytes[3]]),
        })
    }

    pub fn write(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d0,
            d1,
        ]
    }
}

/// `0-9 * # A-D` ↔ events 0–15.
pub fn event_of(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

pub fn digit_of(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// Turns a stream of telephone-event packets into digits, each exactly
/// once: an event is identified by its RTP timestamp, and its end packet is
/// sent three times (RFC 4733 §2.5.1.4).
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    current: Option<(u32, u8)>,
    reported: Option<u32>,
}

impl DtmfReceiver {
    /// The digit to report for this packet, if it completes one.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = ToneEvent::parse(payload)?;
        let mut finished = None;
        // A new event began while the last one never showed its end.
        if let Some((ts, previous)) = self.current {
            if ts != timestamp && self.reported != Some(ts) {
                self.reported = Some(ts);
                finished = digit_of(previous);
            }
        }
        self.current = Some((timestamp, event.event));
        if event.end && self.reported != Some(timestamp) {
            self.reported = Some(timestamp);
            return digit_of(event.event).or(finished);
        }
        finished
    }
}

/// Packets per digit: 100 ms of tone then 3 end packets, as phones do.
pub const TONE_PACKETS: u16 = 5;
pub const END_PACKETS: u16 = 3;
/// Frames of audio between two digits.
pub const GAP_FRAMES: u16 = 3;

/// The telephone-event packets still to send for queued digits, one per
/// 20 ms frame.
#[derive(Debug, Default)]
pub struct DtmfSender {
    queue: std::collections::VecDeque<u8>,
    /// Current digit: (event, frames sent so far).
    current: Option<(u8, u16)>,
    gap: u16,
}

/// What the media loop sends in the next frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Audio,
    /// A telephone-event payload; `first` starts a new event (marker bit
    /// and a new timestamp), `last` ends it (the timestamp moves on after).
    Tone {
        payload: [u8; 4],
        first: bool,
        last: bool,
    },
}

impl DtmfSender {
    /// Queues digits; answers the characters that are not DTMF digits.
    pub fn push(&mut self, digits: &str) -> Result<(), char> {
        let events: Vec<u8> = digits
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| event_of(c).ok_or(c))
            .collect::<Result<_, _>>()?;
        self.queue.extend(events);
        Ok(())
    }

    pub fn next_frame(&mut self) -> Frame {
        if self.gap > 0 {
            self.gap -= 1;
            return Frame::Audio;
        }
        if self.current.is_none() {
            match self.queue.pop_front() {
                Some(event) => self.current = Some((event, 0)),
                None => return Frame::Audio,
            }
        }
        let Some((event, sent)) = self.current.as_mut() else {
            return Frame::Audio;
        };
        *sent += 1;
        let n = *sent;
        let end = n > TONE_PACKETS;
        let duration = 160 * n.min(TONE_PACKETS);
        let payload = ToneEvent {
            event: *event,
            end,
            volume: 10,
            duration,
        }
        .write();
        let last = n == TONE_PACKETS + END_PACKETS;
        if last {
            self.current = None;
            self.gap = GAP_FRAMES;
        }
        Frame::Tone {
            payload,
            first: n == 1,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_map_both_ways() {
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(event_of(d), Some(i as u8));
            assert_eq!(digit_of(i as u8), Some(d));
        }
        assert_eq!(event_of('x'), None);
        assert_eq!(digit_of(16), None);
    }

    #[test]
    fn sender_then_receiver_gives_each_digit_once() {
        let mut sender = DtmfSender::default();
        sender.push("1#9").unwrap();
        let mut receiver = DtmfReceiver::default();
        let mut timestamp = 1000u32;
        let mut got = String::new();
        let mut markers = 0;
        for _ in 0..60 {
            match sender.next_frame() {
                Frame::Audio => timestamp += 160,
                Frame::Tone {
                    payload,
                    first,
                    last,
                } => {
                    markers += usize::from(first);
                    got.extend(receiver.on_packet(timestamp, &payload));
                    if last {
                        timestamp += 160 * TONE_PACKETS as u32;
                    }
                }
            }
        }
        assert_eq!(got, "1#9");
        assert_eq!(markers, 3);
    }

    #[test]
    fn lost_end_packets_still_report_on_the_next_event() {
        let mut receiver = DtmfReceiver::default();
        let start = ToneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 160,
        }
        .write();
        assert_eq!(receiver.on_packet(100, &start), None);
        let next = ToneEvent {
            event: 7,
            end: true,
            volume: 10,
            duration: 800,
        }
        .write();
        assert_eq!(receiver.on_packet(900, &next), Some('7'));
        assert_eq!(receiver.on_packet(900, &next), None, "end repeated");
    }

    #[test]
    fn bad_digits_and_short_payloads() {
        assert_eq!(DtmfSender::default().push("12x"), Err('x'));
        assert_eq!(ToneEvent::parse(&[1, 2]), None);
        assert_eq!(DtmfReceiver::default().on_packet(0, &[]), None);
    }
}
