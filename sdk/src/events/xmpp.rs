//! Events published by the XMPP plugin.

use serde::{Deserialize, Serialize};

use crate::commands::xmpp::Presence;
use crate::EventType;

/// The presence of one of the user's own resources (their other clients).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnPresence {
    /// Full JID of the resource.
    pub jid: String,
    /// `None` when the resource went offline.
    pub presence: Option<Presence>,
}
impl EventType for OwnPresence {
    const TOPIC: &'static str = "xmpp.own_presence";
}
