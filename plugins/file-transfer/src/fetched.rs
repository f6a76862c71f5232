//! What a finished fetch gives, whichever way the bytes came (an HTTP
//! download or an MSRP session): its size and SHA-256, checked while it
//! arrived. Its own module, below both, so neither transport depends on
//! the other.

/// A complete download.
#[derive(Debug)]
pub struct Fetched {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// The media type the server gave, when the offer named none.
    pub content_type: Option<String>,
}

/// Lower-case hex of `bytes` (a digest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
