//! The built-in event vocabulary, one module per protocol.
//!
//! Every field has a default, so a publisher on a newer SDK that adds a field
//! never breaks a subscriber on an older one (and the other way round).

pub mod sip;
pub mod xmpp;
