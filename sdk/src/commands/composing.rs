//! Commands provided by the composing plugin.

use serde::{Deserialize, Serialize};

use crate::CommandType;

/// The user's typing towards a SIP peer, in XEP-0085's words, as their
/// client reports it: `composing` sends is-composing `active` (refreshed
/// while typing goes on), `paused`, `inactive` and `gone` send `idle` when
/// `active` was sent, and `active` (what a client sends with a message)
/// ends typing silently, since the message itself tells the peer
/// (RFC 3994 §3.2). Nothing is sent again that the peer already knows, and
/// nothing at all to a peer that refused is-composing (415).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserTyping {
    /// The SIP URI of the peer the user is writing to.
    pub to: String,
    /// `active`, `composing`, `paused`, `inactive` or `gone`.
    pub state: String,
}
impl CommandType for UserTyping {
    const NAME: &'static str = "composing.user_typing";
    type Reply = TypingSent;
}

/// What `composing.user_typing` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TypingSent {
    /// `active` or `idle` when an is-composing went out; absent when none
    /// was needed.
    pub sent: Option<String>,
    /// Why nothing can be sent, when that is so ("… does not take
    /// is-composing (415)", "switched off").
    pub reason: Option<String>,
}
