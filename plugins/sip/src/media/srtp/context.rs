//! One direction of a call's SRTP and SRTCP (RFC 3711 §3.3, §3.4): what
//! we send is encrypted and then authenticated; what arrives is checked
//! for replay, authenticated and only then decrypted.

use hmac::Mac;

use super::kdf::{Labels, SessionKeys};
use super::replay::ReplayWindow;
use super::{MasterKey, SrtpError, Suite};

const RTP_HEADER: usize = 12;
/// SRTCP leaves the first 8 bytes (header and sender SSRC) in clear.
const RTCP_CLEAR: usize = 8;
/// The E flag and 31-bit SRTCP index after an SRTCP packet's payload.
const RTCP_INDEX_LEN: usize = 4;
const ENCRYPTED: u32 = 1 << 31;

/// Keys for the SRTP and the SRTCP of one direction.
#[derive(Clone)]
struct Keys {
    suite: Suite,
    rtp: SessionKeys,
    rtcp: SessionKeys,
}

impl Keys {
    fn new(suite: Suite, master: &MasterKey) -> Keys {
        Keys {
            suite,
            rtp: SessionKeys::derive(master, Labels::Rtp),
            rtcp: SessionKeys::derive(master, Labels::Rtcp),
        }
    }
}

fn tag(keys: &SessionKeys, parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = keys.mac.clone();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time check of a truncated tag (HMAC's own `verify_truncated_left`).
fn verify(keys: &SessionKeys, parts: &[&[u8]], expected: &[u8]) -> Result<(), SrtpError> {
    let mut mac = keys.mac.clone();
    for part in parts {
        mac.update(part);
    }
    mac.verify_truncated_left(expected)
        .map_err(|_| SrtpError::Authentication)
}

/// The length of an RTP header with its CSRCs and extension: what SRTP
/// leaves in clear.
fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    let mut len = RTP_HEADER + 4 * usize::from(first & 0x0F);
    if first & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= packet.len()).then_some(len)
}

fn ssrc_at(packet: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
}

/// What we send: our master key, our rollover counter and SRTCP index.
#[derive(Clone)]
pub struct Outbound {
    keys: Keys,
    roc: u32,
    last_sequence: Option<u16>,
    rtcp_index: u32,
}

impl Outbound {
    pub fn new(suite: Suite, master: &MasterKey) -> Outbound {
        Outbound {
            keys: Keys::new(suite, master),
            roc: 0,
            last_sequence: None,
            rtcp_index: 0,
        }
    }

    pub fn suite(&self) -> Suite {
        self.keys.suite
    }

    /// Encrypts an RTP packet's payload in place and appends its tag.
    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) {
        let Some(header) = rtp_header_len(packet) else {
            return;
        };
        let sequence = u16::from_be_bytes([packet[2], packet[3]]);
        if let Some(last) = self.last_sequence {
            // Our sequence numbers only go up by one; a smaller one wrapped.
            if sequence < last {
                self.roc = self.roc.wrapping_add(1);
            }
        }
        self.last_sequence = Some(sequence);
        let index = (u64::from(self.roc) << 16) | u64::from(sequence);
        let ssrc = ssrc_at(packet, 8);
        self.keys
            .rtp
            .apply_keystream(ssrc, index, &mut packet[header..]);
        let tag = tag(&self.keys.rtp, &[packet, &self.roc.to_be_bytes()]);
        packet.extend_from_slice(&tag[..self.keys.suite.rtp_tag_len()]);
    }

    /// Encrypts a compound RTCP packet after its first 8 bytes, appends
    /// the E flag with the SRTCP index, then the 80-bit tag.
    pub fn protect_rtcp(&mut self, packet: &mut Vec<u8>) {
        if packet.len() < RTCP_CLEAR {
            return;
        }
        let index = self.rtcp_index;
        self.rtcp_index = (self.rtcp_index + 1) & !ENCRYPTED;
        let ssrc = ssrc_at(packet, 4);
        self.keys
            .rtcp
            .apply_keystream(ssrc, u64::from(index), &mut packet[RTCP_CLEAR..]);
        packet.extend_from_slice(&(ENCRYPTED | index).to_be_bytes());
        let tag = tag(&self.keys.rtcp, &[packet]);
        packet.extend_from_slice(&tag[..self.keys.suite.rtcp_tag_len()]);
    }
}

/// What arrives: the peer's master key, its rollover counter as we
/// estimate it, and the replay windows.
#[derive(Clone)]
pub struct Inbound {
    keys: Keys,
    ssrc: Option<u32>,
    roc: u32,
    highest: u16,
    replay: ReplayWindow,
    rtcp_replay: ReplayWindow,
}

impl Inbound {
    pub fn new(suite: Suite, master: &MasterKey) -> Inbound {
        Inbound {
            keys: Keys::new(suite, master),
            ssrc: None,
            roc: 0,
            highest: 0,
            replay: ReplayWindow::default(),
            rtcp_replay: ReplayWindow::default(),
        }
    }

    /// The rollover counter a packet with `sequence` belongs to
    /// (RFC 3711 §3.3.1 and Appendix A).
    fn estimate_roc(&self, sequence: u16) -> u32 {
        let (s_l, seq) = (i32::from(self.highest), i32::from(sequence));
        if s_l < 32768 {
            if seq - s_l > 32768 {
                return self.roc.wrapping_sub(1);
            }
        } else if s_l - 32768 > seq {
            return self.roc.wrapping_add(1);
        }
        self.roc
    }

    /// Checks and decrypts an SRTP packet in place; answers the length of
    /// the plain RTP packet (without the tag).
    pub fn unprotect_rtp(&mut self, packet: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.keys.suite.rtp_tag_len();
        let short = SrtpError::Truncated(packet.len());
        if packet.len() < RTP_HEADER + tag_len {
            return Err(short);
        }
        let body = packet.len() - tag_len;
        let header = rtp_header_len(&packet[..body]).ok_or(short)?;
        let sequence = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = ssrc_at(packet, 8);
        if self.ssrc != Some(ssrc) {
            // A new source (the peer restarted its stream): its own counters.
            self.ssrc = Some(ssrc);
            self.roc = 0;
            self.highest = sequence;
            self.replay = ReplayWindow::default();
        }
        let roc = self.estimate_roc(sequence);
        let index = (u64::from(roc) << 16) | u64::from(sequence);
        if !self.replay.is_fresh(index) {
            return Err(SrtpError::Replayed(index));
        }
        let (signed, expected) = packet.split_at(body);
        verify(&self.keys.rtp, &[signed, &roc.to_be_bytes()], expected)?;
        self.keys
            .rtp
            .apply_keystream(ssrc, index, &mut packet[header..body]);
        self.replay.accept(index);
        if roc == self.roc.wrapping_add(1) {
            self.roc = roc;
            self.highest = sequence;
        } else if roc == self.roc && sequence > self.highest {
            self.highest = sequence;
        }
        Ok(body)
    }

    /// Checks and decrypts an SRTCP packet in place; answers the length of
    /// the plain compound RTCP packet.
    pub fn unprotect_rtcp(&mut self, packet: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.keys.suite.rtcp_tag_len();
        if packet.len() < RTCP_CLEAR + RTCP_INDEX_LEN + tag_len {
            return Err(SrtpError::Truncated(packet.len()));
        }
        let signed_len = packet.len() - tag_len;
        let (signed, expected) = packet.split_at(signed_len);
        verify(&self.keys.rtcp, &[signed], expected)?;
        let body = signed_len - RTCP_INDEX_LEN;
        let e_index = ssrc_at(packet, body);
        let index = u64::from(e_index & !ENCRYPTED);
        if !self.rtcp_replay.is_fresh(index) {
            return Err(SrtpError::Replayed(index));
        }
        self.rtcp_replay.accept(index);
        if e_index & ENCRYPTED != 0 {
            let ssrc = ssrc_at(packet, 4);
            self.keys
                .rtcp
                .apply_keystream(ssrc, index, &mut packet[RTCP_CLEAR..body]);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::super::kdf::hex;
    use super::*;

    fn rfc_master() -> MasterKey {
        let bytes = hex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6");
        MasterKey::from_bytes(&bytes.try_into().unwrap())
    }

    fn rtp(sequence: u16) -> Vec<u8> {
        let mut packet = vec![0x80, 0];
        packet.extend_from_slice(&sequence.to_be_bytes());
        packet.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
        packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        packet.extend((0..160).map(|i| (i as u8) ^ (sequence as u8)));
        packet
    }

    /// libsrtp's own reference packet (its test driver's `srtp_plaintext`
    /// and `srtp_ciphertext`) under the RFC 3711 B.3 master key: the same
    /// bytes, so what we send decrypts in libsrtp, which most phones use.
    #[test]
    fn protects_libsrtps_reference_packet_byte_for_byte() {
        let plain = hex("800f1234 decafbad cafebabe abababab abababab abababab abababab");
        let expected = hex(
            "800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402 \
             b78d6acc 99ea179b 8dbb",
        );
        let mut packet = plain.clone();
        Outbound::new(Suite::AesCm128HmacSha1_80, &rfc_master()).protect_rtp(&mut packet);
        assert_eq!(packet, expected);
        let mut inbound = Inbound::new(Suite::AesCm128HmacSha1_80, &rfc_master());
        let len = inbound.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(&packet[..len], &plain[..]);
    }

    #[test]
    fn round_trip_across_the_sequence_wrap_both_suites() {
        for suite in Suite::ALL {
            let key = MasterKey::random().unwrap();
            let mut out = Outbound::new(suite, &key);
            let mut inn = Inbound::new(suite, &key);
            for sequence in (65530u16..=65535).chain(0..6) {
                let plain = rtp(sequence);
                let mut packet = plain.clone();
                out.protect_rtp(&mut packet);
                assert_eq!(packet.len(), plain.len() + suite.rtp_tag_len());
                assert_ne!(&packet[12..plain.len()], &plain[12..], "encrypted");
                let len = inn.unprotect_rtp(&mut packet).unwrap();
                assert_eq!(&packet[..len], &plain[..], "{suite:?} {sequence}");
            }
            assert_eq!(inn.roc, 1, "the rollover counter followed the wrap");
        }
    }

    #[test]
    fn tampered_replayed_and_wrongly_keyed_packets_are_refused() {
        let key = MasterKey::random().unwrap();
        let mut out = Outbound::new(Suite::AesCm128HmacSha1_80, &key);
        let mut inn = Inbound::new(Suite::AesCm128HmacSha1_80, &key);
        let mut first = rtp(1);
        out.protect_rtp(&mut first);
        let mut second = rtp(2);
        out.protect_rtp(&mut second);

        let mut tampered = first.clone();
        tampered[20] ^= 1;
        assert_eq!(
            inn.unprotect_rtp(&mut tampered),
            Err(SrtpError::Authentication)
        );
        // Out of order is fine; the same packet twice is not.
        assert!(inn.unprotect_rtp(&mut second.clone()).is_ok());
        assert!(inn.unprotect_rtp(&mut first.clone()).is_ok());
        assert_eq!(
            inn.unprotect_rtp(&mut first.clone()),
            Err(SrtpError::Replayed(1))
        );
        let mut stranger = Inbound::new(Suite::AesCm128HmacSha1_80, &MasterKey::random().unwrap());
        assert_eq!(
            stranger.unprotect_rtp(&mut second.clone()),
            Err(SrtpError::Authentication)
        );
        assert_eq!(
            inn.unprotect_rtp(&mut [0x80; 15]),
            Err(SrtpError::Truncated(15))
        );
    }

    #[test]
    fn srtcp_round_trip_index_and_replay() {
        let key = MasterKey::random().unwrap();
        // SRTCP keeps an 80-bit tag with the _32 suite too.
        let mut out = Outbound::new(Suite::AesCm128HmacSha1_32, &key);
        let mut inn = Inbound::new(Suite::AesCm128HmacSha1_32, &key);
        let report = crate::media::rtcp::sender_report(7, 160, 1, 160, None, "tandem@test");
        let mut packet = report.clone();
        out.protect_rtcp(&mut packet);
        assert_eq!(packet.len(), report.len() + 4 + 10);
        assert_eq!(&packet[..8], &report[..8], "header and SSRC stay clear");
        assert_ne!(&packet[8..report.len()], &report[8..]);
        assert_eq!(&packet[report.len()..report.len() + 4], &[0x80, 0, 0, 0]);
        let len = inn.unprotect_rtcp(&mut packet.clone()).unwrap();
        assert_eq!(len, report.len());
        let mut copy = packet.clone();
        inn.unprotect_rtcp(&mut copy).unwrap_err();
        let mut next = report.clone();
        out.protect_rtcp(&mut next);
        let len = inn.unprotect_rtcp(&mut next).unwrap();
        assert_eq!(&next[..len], &report[..]);
        let mut tampered = packet;
        tampered[9] ^= 0x40;
        assert_eq!(
            inn.unprotect_rtcp(&mut tampered),
            Err(SrtpError::Authentication)
        );
    }
}
