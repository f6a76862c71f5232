//! SRTP and SRTCP (RFC 3711) with keys exchanged in SDP (SDES, RFC 4568):
//! AES-128 in counter mode for privacy, HMAC-SHA1 for authentication.
//!
//! One [`Outbound`] protects what a call sends with our key; one
//! [`Inbound`] checks and decrypts what arrives with the peer's. A packet
//! that fails authentication or is replayed is dropped by the caller and
//! counted, never played.

mod context;
pub mod dtls;
mod kdf;
mod key;
mod replay;
pub mod sdes;

pub use context::{Inbound, Outbound};
pub use key::{MasterKey, RandomError};

/// The SDES crypto suites Tandem speaks (RFC 4568 §6.2), the two every
/// SRTP phone has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// 80-bit authentication tag on SRTP and SRTCP.
    AesCm128HmacSha1_80,
    /// 32-bit tag on SRTP (4 bytes saved per packet); SRTCP keeps 80 bits
    /// (RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// In the order we offer them: the stronger tag first.
    pub const ALL: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];

    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Bytes of authentication tag on each SRTP packet.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }

    /// Bytes of authentication tag on each SRTCP packet: 80 bits for both.
    pub fn rtcp_tag_len(self) -> usize {
        10
    }
}

/// Why an arriving packet was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SrtpError {
    #[error("SRTP packet too short ({0} bytes)")]
    Truncated(usize),
    #[error("SRTP packet failed authentication")]
    Authentication,
    #[error("SRTP packet replayed (index {0} seen before or too old)")]
    Replayed(u64),
}
