//! The few bytes of STUN (RFC 8489) Tandem speaks: a Binding request, and
//! the mapped address in its success response (XOR-MAPPED-ADDRESS, or the
//! older MAPPED-ADDRESS), with RFC 5780's OTHER-ADDRESS, the server's
//! second address, which tells a NAT that maps per destination. No
//! authentication, no TURN: a public STUN server asks for none.
//!
//! STUN shares the RTP socket (the mapping must be the RTP port's own), so
//! packets are told apart by their first byte (RFC 7983 §7).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The fixed value in every STUN header since RFC 5389.
const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
/// Binding request and its success and error responses (method 0x001).
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;

const MAPPED_ADDRESS: u16 = 0x0001;
const ERROR_CODE: u16 = 0x0009;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const OTHER_ADDRESS: u16 = 0x802C;
const FINGERPRINT: u16 = 0x8028;
/// XORed into the CRC-32 of a FINGERPRINT ("STUN" in ASCII).
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// The 96 random bits that match a response to its request.
pub type TransactionId = [u8; 12];

/// A fresh transaction id from the OS generator (RFC 8489 §6: it must be
/// unpredictable, or an off-path host could answer for the server).
pub fn new_transaction_id() -> Result<TransactionId, NoRandom> {
    use rand::TryRng;
    let mut id = [0u8; 12];
    rand::rngs::SysRng
        .try_fill_bytes(&mut id)
        .map_err(|e| NoRandom(e.to_string()))?;
    Ok(id)
}

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error("no random bytes from the operating system for a STUN request: {0}")]
pub struct NoRandom(String);

/// Whether a datagram on a media socket is STUN (RFC 7983: first byte 0 to
/// 3), not RTP or RTCP (128 to 191) nor DTLS (20 to 63).
pub fn is_stun(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| *b <= 3)
}

/// A Binding request with a FINGERPRINT (RFC 8489 §7: it lets a socket
/// shared with RTP tell STUN apart for sure).
pub fn binding_request(id: &TransactionId) -> Vec<u8> {
    let mut message = header(BINDING_REQUEST, id);
    append_fingerprint(&mut message);
    message
}

fn header(kind: u16, id: &TransactionId) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_LEN + 8);
    message.extend_from_slice(&kind.to_be_bytes());
    message.extend_from_slice(&0u16.to_be_bytes());
    message.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    message.extend_from_slice(id);
    message
}

/// Appends a FINGERPRINT over the message so far, its length field
/// counting the attribute itself (RFC 8489 §14.7).
fn append_fingerprint(message: &mut Vec<u8>) {
    let length = (message.len() + 8 - HEADER_LEN) as u16;
    message[2..4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32(message) ^ FINGERPRINT_XOR;
    message.extend_from_slice(&FINGERPRINT.to_be_bytes());
    message.extend_from_slice(&4u16.to_be_bytes());
    message.extend_from_slice(&crc.to_be_bytes());
}

/// What a Binding success response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingAnswer {
    /// Where the server saw the request come from: our address beyond
    /// every NAT on the way.
    pub mapped: SocketAddr,
    /// The server's other address and port (RFC 5780), when it has one.
    pub other: Option<SocketAddr>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    #[error("not a STUN message ({0} bytes)")]
    NotStun(usize),
    #[error("an answer to another request")]
    OtherTransaction,
    #[error("the STUN server refused: {code} {reason}")]
    Refused { code: u16, reason: String },
    #[error("a STUN answer of an unexpected kind {0:#06x}")]
    UnexpectedKind(u16),
    #[error("a STUN answer whose FINGERPRINT does not match")]
    BadFingerprint,
    #[error("a STUN answer with a truncated attribute")]
    Truncated,
    #[error("a STUN answer without a mapped address")]
    NoAddress,
}

/// Reads the answer to request `id`.
pub fn parse_binding_answer(
    message: &[u8],
    id: &TransactionId,
) -> Result<BindingAnswer, StunError> {
    if message.len() < HEADER_LEN
        || !is_stun(message)
        || message[4..8] != MAGIC_COOKIE.to_be_bytes()
    {
        return Err(StunError::NotStun(message.len()));
    }
    let length = usize::from(u16::from_be_bytes([message[2], message[3]]));
    if length % 4 != 0 || HEADER_LEN + length > message.len() {
        return Err(StunError::NotStun(message.len()));
    }
    let message = &message[..HEADER_LEN + length];
    if message[8..HEADER_LEN] != id[..] {
        return Err(StunError::OtherTransaction);
    }
    let kind = u16::from_be_bytes([message[0], message[1]]);
    let mut xor_mapped = None;
    let mut mapped = None;
    let mut other = None;
    let mut error = None;
    for (offset, attribute, value) in attributes(message)? {
        match attribute {
            XOR_MAPPED_ADDRESS => xor_mapped = Some(address(value, Some(&message[4..20]))?),
            MAPPED_ADDRESS => mapped = Some(address(value, None)?),
            OTHER_ADDRESS => other = Some(address(value, None)?),
            ERROR_CODE if value.len() >= 4 => {
                let code = u16::from(value[2] & 0x07) * 100 + u16::from(value[3]);
                error = Some((code, String::from_utf8_lossy(&value[4..]).into_owned()));
            }
            FINGERPRINT => {
                let expected = crc32(&message[..offset]) ^ FINGERPRINT_XOR;
                if value != expected.to_be_bytes() {
                    return Err(StunError::BadFingerprint);
                }
            }
            _ => {}
        }
    }
    match kind {
        BINDING_SUCCESS => Ok(BindingAnswer {
            mapped: xor_mapped.or(mapped).ok_or(StunError::NoAddress)?,
            other,
        }),
        BINDING_ERROR => {
            let (code, reason) = error.unwrap_or((0, "no reason given".into()));
            Err(StunError::Refused { code, reason })
        }
        other => Err(StunError::UnexpectedKind(other)),
    }
}

/// One attribute: where it starts in the message, its type, its value
/// (padding left out).
type Attribute<'a> = (usize, u16, &'a [u8]);

/// The attributes of a checked message.
fn attributes(message: &[u8]) -> Result<Vec<Attribute<'_>>, StunError> {
    let mut found = Vec::new();
    let mut at = HEADER_LEN;
    while at < message.len() {
        if at + 4 > message.len() {
            return Err(StunError::Truncated);
        }
        let kind = u16::from_be_bytes([message[at], message[at + 1]]);
        let len = usize::from(u16::from_be_bytes([message[at + 2], message[at + 3]]));
        let value = message
            .get(at + 4..at + 4 + len)
            .ok_or(StunError::Truncated)?;
        found.push((at, kind, value));
        at += 4 + len.div_ceil(4) * 4;
    }
    Ok(found)
}

/// A (XOR-)MAPPED-ADDRESS value; `xor` is the cookie and transaction id
/// (RFC 8489 §14.2) for the XOR form.
fn address(value: &[u8], xor: Option<&[u8]>) -> Result<SocketAddr, StunError> {
    let unmask = |bytes: &mut [u8]| {
        if let Some(xor) = xor {
            bytes.iter_mut().zip(xor).for_each(|(b, x)| *b ^= x);
        }
    };
    if value.len() < 4 {
        return Err(StunError::Truncated);
    }
    let mut port = [value[2], value[3]];
    unmask(&mut port);
    let port = u16::from_be_bytes(port);
    let ip = match (value[1], value.len()) {
        (0x01, 8) => {
            let mut ip: [u8; 4] = value[4..8].try_into().unwrap_or_default();
            unmask(&mut ip);
            IpAddr::V4(Ipv4Addr::from(ip))
        }
        (0x02, 20) => {
            let mut ip: [u8; 16] = value[4..20].try_into().unwrap_or_default();
            unmask(&mut ip);
            IpAddr::V6(Ipv6Addr::from(ip))
        }
        _ => return Err(StunError::Truncated),
    };
    Ok(SocketAddr::new(ip, port))
}

/// CRC-32 (ISO 3309, as zlib's), bit by bit: a few dozen bytes per call.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    /// RFC 5769 §2.1: the sample request.
    fn request() -> Vec<u8> {
        hex(&[
            "00010058 2112a442 b7e7a701 bc34d686",
            "fa87dfae 80220010 5354554e 20746573",
            "7420636c 69656e74 00240004 6e0001ff",
            "80290008 932ff9b1 51263b36 00060009",
            "6576746a 3a683676 59202020 00080014",
            "9aeaa70c bfd8cb56 781ef2b5 b2d3f249",
            "c1b571a2 80280004 e57a3bcf",
        ])
    }

    /// RFC 5769 §2.2: the sample IPv4 response.
    fn response_v4() -> Vec<u8> {
        hex(&[
            "0101003c 2112a442 b7e7a701 bc34d686",
            "fa87dfae 8022000b 74657374 20766563",
            "746f7220 00200008 0001a147 e112a643",
            "00080014 2b91f599 fd9e90c3 8c7489f9",
            "2af9ba53 f06be7d7 80280004 c07d4c96",
        ])
    }

    /// RFC 5769 §2.3: the sample IPv6 response.
    fn response_v6() -> Vec<u8> {
        hex(&[
            "01010048 2112a442 b7e7a701 bc34d686",
            "fa87dfae 8022000b 74657374 20766563",
            "746f7220 00200014 0002a147 0113a9fa",
            "a5d3f179 bc25f4b5 bed2b9d9 00080014",
            "a382954e 4be67bf1 1784c97c 8292c275",
            "bfe3ed41 80280004 c8fb0b4c",
        ])
    }

    /// The bytes of hex words, written as RFC 5769 prints them.
    fn hex(lines: &[&str]) -> Vec<u8> {
        let digits: String = lines.concat().split_whitespace().collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    const ID: TransactionId = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];
    /// The vectors' short-term password.
    const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

    /// Whether the MESSAGE-INTEGRITY at `offset` is the HMAC-SHA1 of what
    /// precedes it, the length field counting up to its end (RFC 8489
    /// §14.5): the vectors' own check that our framing reads them right.
    fn integrity_holds(message: &[u8], offset: usize, value: &[u8]) -> bool {
        let mut covered = message[..offset].to_vec();
        let length = (offset + 24 - HEADER_LEN) as u16;
        covered[2..4].copy_from_slice(&length.to_be_bytes());
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(PASSWORD).unwrap();
        mac.update(&covered);
        mac.verify_slice(value).is_ok()
    }

    #[test]
    fn reads_the_ipv4_vector() {
        let answer = parse_binding_answer(&response_v4(), &ID).unwrap();
        assert_eq!(answer.mapped, "192.0.2.1:32853".parse().unwrap());
        assert_eq!(answer.other, None);
    }

    #[test]
    fn reads_the_ipv6_vector() {
        let answer = parse_binding_answer(&response_v6(), &ID).unwrap();
        assert_eq!(
            answer.mapped,
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                .parse()
                .unwrap()
        );
    }

    #[test]
    fn the_vectors_integrity_and_fingerprints_check_out_byte_for_byte() {
        for message in [request(), response_v4(), response_v6()] {
            let message = &message[..];
            let found = attributes(message).unwrap();
            let (offset, _, value) = found
                .iter()
                .find(|(_, kind, _)| *kind == 0x0008)
                .copied()
                .unwrap();
            assert!(integrity_holds(message, offset, value));
            let (offset, _, value) = *found.last().unwrap();
            assert_eq!(
                value,
                (crc32(&message[..offset]) ^ FINGERPRINT_XOR).to_be_bytes()
            );
        }
    }

    #[test]
    fn builds_the_vectors_fingerprint_byte_for_byte() {
        // Everything up to the vector's FINGERPRINT, then ours appended:
        // the whole request again.
        for whole in [request(), response_v4(), response_v6()] {
            let mut rebuilt = whole[..whole.len() - 8].to_vec();
            append_fingerprint(&mut rebuilt);
            assert_eq!(rebuilt, whole);
        }
    }

    #[test]
    fn our_request_is_a_binding_request_with_a_fingerprint() {
        let request = binding_request(&ID);
        assert_eq!(request.len(), 28);
        assert_eq!(request[..4], [0x00, 0x01, 0x00, 0x08]);
        assert_eq!(request[4..20], super::tests::request()[4..20]);
        let found = attributes(&request).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, FINGERPRINT);
        assert!(is_stun(&request));
    }

    #[test]
    fn a_request_is_not_an_answer_and_other_ids_are_ignored() {
        assert_eq!(
            parse_binding_answer(&request(), &ID),
            Err(StunError::UnexpectedKind(BINDING_REQUEST))
        );
        let mut other = ID;
        other[0] ^= 1;
        assert_eq!(
            parse_binding_answer(&response_v4(), &other),
            Err(StunError::OtherTransaction)
        );
    }

    #[test]
    fn a_damaged_answer_fails_its_fingerprint() {
        let mut damaged = response_v4();
        damaged[45] ^= 0x01; // inside XOR-MAPPED-ADDRESS
        assert_eq!(
            parse_binding_answer(&damaged, &ID),
            Err(StunError::BadFingerprint)
        );
    }

    #[test]
    fn the_old_mapped_address_is_taken_when_alone() {
        let mut answer = header(BINDING_SUCCESS, &ID);
        answer.extend_from_slice(&[
            0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x13, 0x88, 198, 51, 100, 7,
        ]);
        let length = (answer.len() - HEADER_LEN) as u16;
        answer[2..4].copy_from_slice(&length.to_be_bytes());
        let read = parse_binding_answer(&answer, &ID).unwrap();
        assert_eq!(read.mapped, "198.51.100.7:5000".parse().unwrap());
    }

    #[test]
    fn tells_stun_from_rtp_and_dtls() {
        assert!(is_stun(&response_v4()));
        assert!(!is_stun(&[0x80, 0x00])); // RTP version 2
        assert!(!is_stun(&[22, 0xfe])); // DTLS handshake
        assert!(!is_stun(&[]));
    }

    #[test]
    fn transaction_ids_differ() {
        assert_ne!(new_transaction_id().unwrap(), new_transaction_id().unwrap());
    }
}
