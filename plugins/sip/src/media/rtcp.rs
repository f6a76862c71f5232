//! RTCP sender and receiver reports (RFC 3550 §6.4) with a CNAME, sent
//! every few seconds so the peer can see loss and jitter as we see them.

use std::time::{SystemTime, UNIX_EPOCH};

pub const SENDER_REPORT: u8 = 200;
pub const RECEIVER_REPORT: u8 = 201;
const SDES: u8 = 202;

/// What we know about the stream we receive, for the report block.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    pub cumulative_lost: u32,
    pub highest_seq: u32,
    pub jitter: u32,
}

/// A compound SR + SDES(CNAME) packet.
pub fn sender_report(
    ssrc: u32,
    rtp_timestamp: u32,
    packets: u32,
    octets: u32,
    block: Option<ReportBlock>,
    cname: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    let count = u8::from(block.is_some());
    let words = 6 + 6 * usize::from(count);
    out.push(0x80 | count);
    out.push(SENDER_REPORT);
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    let (ntp_seconds, ntp_fraction) = ntp_now();
    out.extend_from_slice(&ntp_seconds.to_be_bytes());
    out.extend_from_slice(&ntp_fraction.to_be_bytes());
    out.extend_from_slice(&rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&packets.to_be_bytes());
    out.extend_from_slice(&octets.to_be_bytes());
    if let Some(block) = block {
        out.extend_from_slice(&block.ssrc.to_be_bytes());
        let lost = block.cumulative_lost.min(0x7F_FFFF).to_be_bytes();
        out.extend_from_slice(&[block.fraction_lost, lost[1], lost[2], lost[3]]);
        out.extend_from_slice(&block.highest_seq.to_be_bytes());
        out.extend_from_slice(&block.jitter.to_be_bytes());
        out.extend_from_slice(&[0; 8]); // LSR, DLSR: we do not track round trips.
    }
    // SDES with one chunk: SSRC, CNAME item, end, padded to 32 bits.
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let mut chunk = ssrc.to_be_bytes().to_vec();
    chunk.push(1);
    chunk.push(cname.len() as u8);
    chunk.extend_from_slice(cname);
    chunk.push(0);
    while chunk.len() % 4 != 0 {
        chunk.push(0);
    }
    out.push(0x81);
    out.push(SDES);
    out.extend_from_slice(&((chunk.len() / 4) as u16).to_be_bytes());
    out.extend_from_slice(&chunk);
    out
}

fn ntp_now() -> (u32, u32) {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_unix.as_secs() + 2_208_988_800;
    let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds as u32, fraction as u32)
}

/// The packet types in a compound RTCP packet; `None` if it is not valid
/// RTCP (RFC 3550 A.2 checks: version 2, lengths add up).
pub fn packet_types(mut packet: &[u8]) -> Option<Vec<u8>> {
    let mut types = Vec::new();
    while !packet.is_empty() {
        let header = packet.get(..4)?;
        if header[0] >> 6 != 2 {
            return None;
        }
        let len = 4 * (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1);
        types.push(header[1]);
        packet = packet.get(len..)?;
    }
    (!types.is_empty()).then_some(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_report_is_valid_compound_rtcp() {
        let block = ReportBlock {
            ssrc: 7,
            fraction_lost: 3,
            cumulative_lost: 9,
            highest_seq: 70000,
            jitter: 12,
        };
        for block in [None, Some(block)] {
            let packet = sender_report(1, 160, 10, 1600, block, "tandem@127.0.0.1");
            assert_eq!(packet_types(&packet), Some(vec![SENDER_REPORT, SDES]));
            assert_eq!(packet.len() % 4, 0);
        }
    }

    #[test]
    fn junk_is_not_rtcp() {
        assert_eq!(packet_types(&[]), None);
        assert_eq!(
            packet_types(&[0x80, 200, 0, 9]),
            None,
            "length past the end"
        );
        assert_eq!(packet_types(&[0x40, 200, 0, 0]), None, "version 1");
        assert_eq!(
            packet_types(&[0x80, 201, 0, 0]),
            Some(vec![RECEIVER_REPORT])
        );
    }
}
