//! Commands provided by the XMPP plugin.

use serde::{Deserialize, Serialize};

use crate::CommandType;

/// A presence: what `xmpp.presence` answers and `xmpp.set_presence` takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Presence {
    /// `None` is plain available; else `away`, `chat`, `dnd` or `xa`.
    pub show: Option<String>,
    pub status: Option<String>,
    pub priority: Option<i8>,
}

/// Reads the sidecar's current presence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPresence {}
impl CommandType for GetPresence {
    const NAME: &'static str = "xmpp.presence";
    type Reply = Presence;
}

/// Sets the sidecar's presence; answers the presence now in force and the
/// one it replaced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SetPresence(pub Presence);
impl CommandType for SetPresence {
    const NAME: &'static str = "xmpp.set_presence";
    type Reply = PresenceChange;
}

/// What `xmpp.set_presence` answers: the new presence's fields, and
/// `previous`, so a rule that will restore it needs no `xmpp.presence`
/// round trip first (one hop less before contacts see the change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceChange {
    #[serde(flatten)]
    pub now: Presence,
    pub previous: Presence,
}

/// Publishes (or, with `general` empty, clears) XEP-0108 user activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetActivity {
    /// e.g. `talking`; empty clears the activity.
    pub general: String,
    /// e.g. `on_the_phone`.
    pub specific: Option<String>,
    pub text: Option<String>,
}
impl CommandType for SetActivity {
    const NAME: &'static str = "xmpp.set_activity";
    type Reply = serde_json::Value;
}

/// A XEP-0152 reachability address: a URI where someone can be reached
/// other than over XMPP (`sip:alice@example.org`, `tel:+44...`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReachAddress {
    pub uri: String,
    /// What it is, for people ("Desk phone").
    pub desc: Option<String>,
}

/// Publishes the user's reachability addresses (PEP and presence), in place
/// of those from config; an empty list stops publishing them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetReach {
    pub addresses: Vec<ReachAddress>,
}
impl CommandType for SetReach {
    const NAME: &'static str = "xmpp.set_reach";
    type Reply = serde_json::Value;
}

/// The reachability addresses a contact published, as last seen (PEP or
/// presence); empty when none are known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReachOf {
    /// The contact's JID (a full JID is taken as its bare JID).
    pub jid: String,
}
impl CommandType for ReachOf {
    const NAME: &'static str = "xmpp.reach_of";
    type Reply = KnownReach;
}

/// What `xmpp.reach_of` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnownReach {
    pub addresses: Vec<ReachAddress>,
}

/// Sends a chat message from the sidecar to the user's own other clients
/// ("Incoming call from Bob"), shown there like any message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyUser {
    pub text: String,
}
impl CommandType for NotifyUser {
    const NAME: &'static str = "xmpp.notify_user";
    type Reply = serde_json::Value;
}

/// The sidecar's connection, for `tandem ctl status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetStatus {}
impl CommandType for GetStatus {
    const NAME: &'static str = "xmpp.status";
    type Reply = Status;
}

/// What `xmpp.status` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// `connecting`, `online`, `offline`, or `auth_failed` (the server
    /// refused the login: see `reason`).
    pub state: String,
    /// Why not online, when known: the server's condition and text, and
    /// whether the sidecar will try again.
    pub reason: Option<String>,
    /// The bound full JID when online.
    pub jid: Option<String>,
    /// The user's other resources now online.
    pub own_resources: Vec<String>,
    /// Contacts' resources now online.
    pub contacts_online: usize,
    /// Times the connection was (re)established.
    pub connects: u64,
}

/// Sends a chat message from the sidecar.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendMessage {
    pub to: String,
    pub body: String,
    pub thread: Option<String>,
}
impl CommandType for SendMessage {
    const NAME: &'static str = "xmpp.send_message";
    type Reply = serde_json::Value;
}

/// Sends a standalone chat state; refused for peers that have not shown
/// they support chat states, skipped when it repeats the last one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendChatState {
    pub to: String,
    pub state: String,
}
impl CommandType for SendChatState {
    const NAME: &'static str = "xmpp.send_chat_state";
    /// `{sent: bool}`.
    type Reply = serde_json::Value;
}
