//! The built-in command vocabulary: one module per protocol, and `host`
//! for the commands the host itself answers.

pub mod host;
pub mod sip;
pub mod xmpp;
