//! Direct file transfer over MSRP (RFC 4975), the way RFC 5547 uses it:
//! one file per session, sent in chunks, each answered, a success REPORT
//! at the end.
//!
//! Layout: `uri` (the MSRP URI and paths), `frame` (a request or
//! response head, typed, and how it is written), `parser` (bytes in,
//! heads and body pieces out, never a whole body), `error` (what failed),
//! this file.

// Used by the SIP signalling once MSRP offers are wired in (issue 22).
#![allow(dead_code)]

pub mod error;
pub mod frame;
pub mod parser;
pub mod uri;

#[cfg(test)]
mod tests;
