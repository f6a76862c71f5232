//! What goes wrong on an MSRP connection, in words a user can read.

use std::io;

use thiserror::Error;

/// Bytes that are not MSRP (RFC 4975 §7): the connection they came on is
/// closed, since nothing after them can be trusted to be framed right.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("the peer sent something that is not MSRP ({0})")]
    StartLine(&'static str),
    #[error("the peer's MSRP header {name} is unusable: {why}")]
    Header {
        name: &'static str,
        why: &'static str,
    },
    #[error("the peer's MSRP address {uri:?} is unusable: {why}")]
    Uri { uri: String, why: &'static str },
    #[error("the peer's MSRP headers are longer than {limit} bytes")]
    HeadTooLong { limit: usize },
}

/// Why a file sent or received over MSRP did not get through.
#[derive(Debug, Error)]
pub enum SessionError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the MSRP connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("the peer closed the MSRP connection after {got} bytes of the file")]
    PeerGone { got: u64 },
    #[error("the peer did not answer over MSRP for {seconds} s")]
    Timeout { seconds: u64 },
    #[error("the peer stopped the transfer")]
    CancelledByPeer,
    #[error("the transfer was cancelled")]
    Cancelled,
    #[error("the peer refused a part of the file (MSRP {code} {comment})")]
    Refused { code: u16, comment: String },
    #[error("the peer's MSRP request is not for this transfer ({0})")]
    WrongSession(&'static str),
    #[error("the peer sent bytes {start} onwards when byte {expected} was next")]
    OutOfOrder { start: u64, expected: u64 },
    #[error("the file's SHA-256 is not the one offered, so it was deleted")]
    HashMismatch,
    #[error("could not read the file to send: {0}")]
    Disk(io::Error),
}

impl From<SessionError> for crate::error::TransferError {
    fn from(e: SessionError) -> Self {
        crate::error::TransferError::Direct(Box::new(e))
    }
}
