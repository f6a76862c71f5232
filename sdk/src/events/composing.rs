//! Events of the composing plugin: who is typing, whatever the protocol.

use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;
use crate::EventType;

open_enum! {
    /// Whether someone is typing: RFC 3994's two states, which XEP-0085's
    /// five map onto (`composing` is typing; the others are not).
    pub enum Typing {
        /// Typing now (RFC 3994 `active`, XEP-0085 `composing`).
        Composing = "composing",
        /// Not typing (RFC 3994 `idle`; XEP-0085 `active`, `paused`,
        /// `inactive`, `gone`).
        Idle = "idle",
    }
}

/// A peer started or stopped typing to the user. Published on changes
/// only: `composing` when their is-composing says `active`, `idle` when it
/// says `idle`, when their message arrives, or when they did not refresh
/// `active` in time (the `refresh` they gave, else 120 s, RFC 3994 §4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerTyping {
    /// Who: a SIP URI for SIP peers.
    pub peer: String,
    /// `sip` (the only protocol so far).
    pub protocol: String,
    pub state: Typing,
    /// What they are composing, when they said (`text/plain`, `audio`...).
    pub content_type: Option<String>,
}
impl EventType for PeerTyping {
    const TOPIC: &'static str = "composing.peer";
}
