//! Receive-side reordering: packets come out in sequence order, late ones
//! are dropped, and a gap becomes silence so a recording keeps its timing.

use std::collections::BTreeMap;

/// Frames held back waiting for a late packet before giving up on it.
pub const DEPTH: usize = 3;

#[derive(Debug, Default)]
pub struct JitterBuffer {
    next: Option<u64>,
    held: BTreeMap<u64, Vec<i16>>,
    pub late: u64,
    pub concealed: u64,
}

impl JitterBuffer {
    /// Adds a decoded frame; calls `play` with every frame now in order
    /// (missing ones replaced by silence of `frame_len` samples).
    pub fn push(&mut self, seq: u64, frame: Vec<i16>, mut play: impl FnMut(&[i16])) {
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.held.contains_key(&seq) {
            self.late += 1;
            return;
        }
        let frame_len = frame.len();
        self.held.insert(seq, frame);
        loop {
            let Some(expected) = self.next else { return };
            if let Some(frame) = self.held.remove(&expected) {
                play(&frame);
                self.next = Some(expected + 1);
            } else if self.held.len() > DEPTH {
                // Give up on the missing packet.
                play(&vec![0; frame_len]);
                self.concealed += 1;
                self.next = Some(expected + 1);
            } else {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(buffer: &mut JitterBuffer, seqs: &[u64]) -> Vec<i16> {
        let mut played = Vec::new();
        for &seq in seqs {
            buffer.push(seq, vec![seq as i16], |f| played.extend_from_slice(f));
        }
        played
    }

    #[test]
    fn reorders_within_depth() {
        let mut buffer = JitterBuffer::default();
        assert_eq!(run(&mut buffer, &[1, 3, 2, 4]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped() {
        let mut buffer = JitterBuffer::default();
        assert_eq!(run(&mut buffer, &[5, 6, 6, 4, 7]), vec![5, 6, 7]);
        assert_eq!(buffer.late, 2);
    }

    #[test]
    fn a_lost_packet_becomes_silence() {
        let mut buffer = JitterBuffer::default();
        assert_eq!(run(&mut buffer, &[1, 3, 4, 5, 6]), vec![1, 0, 3, 4, 5, 6]);
        assert_eq!(buffer.concealed, 1);
    }
}
