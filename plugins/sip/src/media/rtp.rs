//! RTP packets (RFC 3550 §5.1): parse what arrives without trusting it,
//! and write our own.

/// The fixed header fields Tandem uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Why a datagram is not an RTP packet we can use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("RTP packet too short ({0} bytes)")]
    Truncated(usize),
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    #[error("RTP padding or extension runs past the packet")]
    BadLength,
}

pub const HEADER_LEN: usize = 12;

/// Splits a packet into its header and payload.
pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), RtpError> {
    if packet.len() < HEADER_LEN {
        return Err(RtpError::Truncated(packet.len()));
    }
    let version = packet[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let padding = packet[0] & 0x20 != 0;
    let extension = packet[0] & 0x10 != 0;
    let csrc_count = usize::from(packet[0] & 0x0F);
    let header = RtpHeader {
        marker: packet[1] & 0x80 != 0,
        payload_type: packet[1] & 0x7F,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    };
    let mut start = HEADER_LEN + 4 * csrc_count;
    if extension {
        let words = packet
            .get(start + 2..start + 4)
            .ok_or(RtpError::BadLength)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = packet.len();
    if padding {
        let pad = usize::from(*packet.last().ok_or(RtpError::BadLength)?);
        end = end.checked_sub(pad).ok_or(RtpError::BadLength)?;
    }
    let payload = packet.get(start..end).ok_or(RtpError::BadLength)?;
    Ok((header, payload))
}

/// Writes a packet (no CSRCs, no extension) into `out`.
pub fn write(header: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(0x80);
    out.push((u8::from(header.marker) << 7) | (header.payload_type & 0x7F));
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(&header.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Sequence numbers extended past their 16-bit wrap (RFC 3550 A.1).
#[derive(Debug, Default, Clone)]
pub struct SequenceExtender {
    last: Option<u64>,
}

impl SequenceExtender {
    pub fn extend(&mut self, sequence: u16) -> u64 {
        let Some(last) = self.last else {
            let first = (1u64 << 16) + u64::from(sequence);
            self.last = Some(first);
            return first;
        };
        let cycle = last & !0xFFFF;
        let candidates = [
            cycle.wrapping_sub(1 << 16) | u64::from(sequence),
            cycle | u64::from(sequence),
            (cycle + (1 << 16)) | u64::from(sequence),
        ];
        let nearest = candidates
            .into_iter()
            .min_by_key(|c| c.abs_diff(last))
            .unwrap_or(last);
        if nearest > last {
            self.last = Some(nearest);
        }
        nearest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse() {
        let header = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xDEADBEEF,
            ssrc: 42,
        };
        let mut out = Vec::new();
        write(&header, &[1, 2, 3], &mut out);
        assert_eq!(parse(&out).unwrap(), (header, &[1u8, 2, 3][..]));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut packet = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        packet.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        packet.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // extension, 1 word
        packet.extend_from_slice(&[5, 6]); // payload
        packet.extend_from_slice(&[0, 2]); // 2 bytes of padding
        let (_, payload) = parse(&packet).unwrap();
        assert_eq!(payload, &[5, 6]);
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::Truncated(5)));
        assert_eq!(parse(&[0u8; 12]).unwrap_err(), RtpError::Version(0));
        // Extension claims more words than there are.
        let packet = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        assert_eq!(parse(&packet).unwrap_err(), RtpError::BadLength);
        // Padding longer than the packet.
        let mut packet = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        packet.push(200);
        assert_eq!(parse(&packet).unwrap_err(), RtpError::BadLength);
        for len in 0..40 {
            let noise: Vec<u8> = (0..len).map(|i| (i * 37 + 0x91) as u8).collect();
            let _ = parse(&noise);
        }
    }

    #[test]
    fn sequence_wraps_forward_and_tolerates_reordering() {
        let mut ext = SequenceExtender::default();
        let first = ext.extend(65534);
        assert_eq!(ext.extend(65535), first + 1);
        assert_eq!(ext.extend(0), first + 2);
        assert_eq!(
            ext.extend(65535),
            first + 1,
            "late packet from before the wrap"
        );
        assert_eq!(ext.extend(1), first + 3);
    }
}
