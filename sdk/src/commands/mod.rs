//! The built-in command vocabulary, one module per protocol.

pub mod xmpp;
