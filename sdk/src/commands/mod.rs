//! The built-in command vocabulary, one module per protocol.

pub mod sip;
pub mod xmpp;
