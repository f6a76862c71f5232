//! Direct file transfer over MSRP (RFC 4975), the way RFC 5547 uses it:
//! one file per session, sent in chunks, each answered, a success REPORT
//! at the end.
//!
//! Layout: `uri` (the MSRP URI and paths), `frame` (a request or
//! response head, typed, and how it is written), `parser` (bytes in,
//! heads and body pieces out, never a whole body), `error` (what failed),
//! `connection` (frames over one connection), `sender` and `receiver`
//! (one file, each way), `relay` (logging in at an MSRP relay, RFC 4976,
//! and the paths through it) with `digest` (its HTTP Digest login).

// Used by the SIP signalling once MSRP offers are wired in (issue 22).
#![allow(dead_code)]

pub mod connection;
pub mod digest;
pub mod error;
pub mod frame;
pub mod parser;
pub mod receiver;
pub mod relay;
pub mod sdp;
pub mod sender;
pub mod uri;

#[cfg(test)]
mod session_tests;
/// File bytes per SEND unless `msrp_chunk_size` says otherwise: 4 KiB
/// keeps a relay's per-chunk buffer and a cancel's latency small (RFC 4975
/// §7.1 asks for chunks short enough to interleave other messages), and on
/// loopback costs little (docs/decisions/0066).
pub const DEFAULT_CHUNK_SIZE: usize = 4096;
/// The largest chunk allowed: RFC 4975 §7.1 expects chunks of at most
/// some kilobytes, and each chunk is one buffer in memory.
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;

#[cfg(test)]
mod tests;
