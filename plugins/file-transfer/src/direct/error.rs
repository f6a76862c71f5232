//! Why a direct (MSRP) transfer failed, in words the user reads: they
//! name what happened, not the protocol (the user need not know that the
//! file came over MSRP rather than a link).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DirectError {
    #[error("the sender stopped the transfer after {got} bytes")]
    PeerEnded { got: u64 },
    #[error("the sender gave up before the file could be taken ({0})")]
    NotAnswered(String),
    #[error("could not reach the sender at {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("the other end did not connect within {0} s")]
    NoConnection(u64),
    #[error("could not open a port for the transfer: {0}")]
    Listen(std::io::Error),
    #[error(
        "cannot tell which of this machine's addresses {host} reaches ({detail}); set msrp_address"
    )]
    Address { host: String, detail: String },
    #[error("the file's SHA-1 is not the one offered, so it was deleted")]
    Sha1Mismatch,
    #[error("the file's SHA-256 is not the one the sending client gave, so it was not sent")]
    Sha256Mismatch,
    #[error("could not read the file: {0}")]
    Disk(std::io::Error),
    #[error("the answer could not be read: {0}")]
    Answer(String),
    #[error("the transfer was cancelled")]
    Cancelled,
    /// The MSRP relay could not be reached or refused us: its own words.
    #[error(transparent)]
    Relay(crate::msrp::relay::RelayError),
}

impl From<DirectError> for crate::error::TransferError {
    fn from(e: DirectError) -> Self {
        crate::error::TransferError::Direct(Box::new(e))
    }
}
