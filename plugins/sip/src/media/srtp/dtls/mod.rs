//! DTLS-SRTP (RFC 5763, RFC 5764): SRTP keys agreed in a DTLS 1.2
//! handshake on the media path itself, the peer known by the certificate
//! fingerprint its SDP carries. The DTLS is the system's OpenSSL 3, loaded
//! at run time (decision 0076); the SRTP is ours (`srtp::context`).
//!
//! `ffi` the library, `certificate` our identity, `endpoint` one OpenSSL
//! handshake over memory, `handshake` a call's two on its sockets, `keys`
//! the exported keys split, `attributes` the SDP lines.

pub mod attributes;
mod certificate;
mod endpoint;
mod ffi;
pub mod handshake;
pub mod keys;

use std::fmt;

use crate::config::encryption::Encryption;

pub use attributes::{Agreed, DtlsLines, Fingerprint, Role, Setup};
pub use ffi::Unavailable;
pub use handshake::{is_dtls, Association};

/// Our certificate's fingerprint, for the SDP; an error when OpenSSL is
/// missing or would not make one (DTLS-SRTP is then not offered).
pub fn local_fingerprint() -> Result<Fingerprint, DtlsError> {
    certificate::identity().map(|identity| identity.fingerprint)
}

/// What `tandem check` says when DTLS-SRTP cannot run here and the
/// setting could use it (anything but "none": any encrypting setting
/// answers a DTLS-SRTP offer); the plugin's start says it too when the
/// setting offers DTLS. Only the library is looked for: the certificate
/// is made when a call first needs it.
pub fn left_out(configured: Option<Encryption>) -> Option<String> {
    if configured == Some(Encryption::None) {
        return None;
    }
    let error = ffi::library().err()?;
    let fallback = match configured {
        Some(Encryption::Dtls) => "; calls offer SDES keys instead",
        _ => "; DTLS-SRTP offers are refused",
    };
    Some(format!("{error}{fallback}"))
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DtlsError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("could not set up DTLS ({0}): {1}")]
    Setup(&'static str, String),
    #[error("the encryption handshake with the peer failed: {0}")]
    Handshake(String),
    #[error("the encryption handshake with the peer did not finish within {0} s")]
    TimedOut(u64),
    #[error("the peer sent no certificate in the encryption handshake")]
    NoCertificate,
    #[error(
        "the peer's certificate does not match the fingerprint in its SDP: \
         someone may be in the middle of the call"
    )]
    FingerprintMismatch,
    #[error("the peer agreed no SRTP suite Tandem speaks in the encryption handshake")]
    NoSrtpProfile,
}

/// What went wrong, in a word, for the call to act on (the detail is
/// logged where it happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    TimedOut,
    Mismatch,
    Failed,
}

impl From<&DtlsError> for Failure {
    fn from(error: &DtlsError) -> Failure {
        match error {
            DtlsError::TimedOut(_) => Failure::TimedOut,
            DtlsError::FingerprintMismatch | DtlsError::NoCertificate => Failure::Mismatch,
            _ => Failure::Failed,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::TimedOut => "the encryption handshake with the peer did not finish",
            Failure::Mismatch => "the peer's certificate does not match the fingerprint in its SDP",
            Failure::Failed => "the encryption handshake with the peer failed",
        })
    }
}

#[cfg(test)]
mod tests;
