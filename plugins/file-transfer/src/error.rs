//! Why a transfer failed, in words the user reads in their chat: each
//! says what happened and, where it helps, what would fix it.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::url::UrlError;

#[derive(Debug, Error)]
pub enum TransferError {
    #[error("the link has expired or the file was removed ({host} answered HTTP {code})")]
    Gone { host: String, code: u16 },
    #[error("{host} wants a login to hand out the file (HTTP {code}); Tandem has none for it")]
    Unauthorized { host: String, code: u16 },
    #[error("{host} answered HTTP {code} {reason}")]
    Status {
        host: String,
        code: u16,
        reason: String,
    },
    #[error("too many redirections from {0}")]
    Redirects(String),
    #[error("the address is unusable: {0}")]
    Url(#[from] UrlError),
    #[error("could not reach {host}: {source}")]
    Connect { host: String, source: io::Error },
    #[error("no secure connection to {host}: {detail}")]
    Tls { host: String, detail: String },
    #[error("{host} took more than {seconds} s to answer")]
    Timeout { host: String, seconds: u64 },
    #[error("the connection to {host} broke off: {detail}")]
    Broken { host: String, detail: String },
    #[error("the file is larger than {limit} bytes, the most Tandem takes (max_size)")]
    TooLarge { limit: u64 },
    #[error("the file is larger than the {offered} bytes offered")]
    LargerThanOffered { offered: u64 },
    #[error("the file ended after {got} of the {offered} bytes offered")]
    ShorterThanOffered { got: u64, offered: u64 },
    #[error("could not write the file in {}: {source}", dir.display())]
    Disk { dir: PathBuf, source: io::Error },
    #[error("your XMPP server would not take the file: {0}")]
    Slot(String),
    #[error("your XMPP server's upload answered HTTP {code} {reason}")]
    Upload { code: u16, reason: String },
    #[error("the file was uploaded but could not be shared with your clients: {0}")]
    Share(String),
    /// A direct (MSRP) transfer's own failures (`msrp::error::SessionError`,
    /// converted there: the transports depend on this type, not it on them).
    #[error(transparent)]
    Direct(Box<dyn std::error::Error + Send + Sync>),
}
