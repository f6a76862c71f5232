//! Events published by the XMPP plugin.

use serde::{Deserialize, Serialize};

use crate::commands::xmpp::{Presence, ReachAddress};
use crate::open_enum::open_enum;
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

/// A contact's resource came, changed or went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactPresence {
    /// Full JID of the contact's resource.
    pub jid: String,
    /// `None` when the resource went offline.
    pub presence: Option<Presence>,
    /// XEP-0152 reachability addresses carried in this presence, if any.
    pub reach: Vec<ReachAddress>,
    /// What the contact's client supports (XEP-0115 caps, disco#info
    /// features), sorted. Empty when unknown yet: the first presence of a
    /// client version is sent again with them once its client has answered.
    pub features: Vec<String>,
}
impl EventType for ContactPresence {
    const TOPIC: &'static str = "xmpp.contact_presence";
}

/// The sidecar's own connection changed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// `online` or `offline`.
    pub state: String,
    pub jid: Option<String>,
    /// Why it went offline.
    pub reason: Option<String>,
}
impl EventType for Connection {
    const TOPIC: &'static str = "xmpp.connection";
}

/// A chat message the sidecar saw: sent to it, or a Carbons copy of one the
/// user sent or received on another client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatMessage {
    pub from: String,
    pub to: String,
    /// The text, without the quote a XEP-0461 reply carries for clients
    /// that do not know replies (its XEP-0428 fallback).
    pub body: Option<String>,
    pub thread: Option<String>,
    pub via: Via,
    /// The message's id, for a receipt (`xmpp.send_receipt`) or a reply.
    pub id: Option<String>,
    /// The id of the message this one answers (XEP-0461), when it says.
    pub reply_to: Option<String>,
    /// The sender asked for a XEP-0184 receipt.
    pub receipt_requested: bool,
    /// Sent by one of the user's own clients (the server-stamped sender is
    /// the user's own account): the only messages a rule should obey.
    pub from_own_account: bool,
    /// The file the user's message shares, as their client described it
    /// (XEP-0447 stateless file sharing, else XEP-0066 OOB); only on the
    /// user's own messages.
    pub file: Option<MessageFile>,
}
impl EventType for ChatMessage {
    const TOPIC: &'static str = "xmpp.message";
}

/// A file shared in a message: where it is and what the sender's client
/// said of it (XEP-0446 metadata; OOB gives the URL alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFile {
    /// An `http://` or `https://` URL (other sources are not read).
    pub url: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    /// SHA-256 of the content, lower-case hex (XEP-0300 writes base64).
    pub sha256: Option<String>,
}

/// A XEP-0482 call invite, or an answer to one, seen by the sidecar
/// (a contact inviting the user, or answering the user's invite).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallInvite {
    pub from: String,
    pub to: String,
    pub action: InviteAction,
    /// The invite's id: the message's for an invite, the one answered
    /// otherwise.
    pub id: String,
    /// The ways to join it (`sip:`, `tel:`, `https:` URIs), in order.
    pub uris: Vec<String>,
    pub video: bool,
    /// It also offers a Jingle session, which Tandem cannot join.
    pub jingle: bool,
    pub via: Via,
    pub from_own_account: bool,
}
impl EventType for CallInvite {
    const TOPIC: &'static str = "xmpp.call_invite";
}

open_enum! {
    /// What a XEP-0482 element does.
    pub enum InviteAction {
        Invite = "invite",
        Accept = "accept",
        Reject = "reject",
        Retract = "retract",
        Left = "left",
    }
}

open_enum! {
    /// How the sidecar saw a message or chat state.
    pub enum Via {
        /// Sent to the sidecar itself.
        Direct = "direct",
        /// A Carbons copy: the user sent it from another client.
        CarbonSent = "carbon_sent",
        /// A Carbons copy: another client of the user received it.
        CarbonReceived = "carbon_received",
    }
}

open_enum! {
    /// A XEP-0085 chat state.
    pub enum ChatState {
        Active = "active",
        Composing = "composing",
        Paused = "paused",
        Inactive = "inactive",
        Gone = "gone",
    }
}

/// A contact (or another of the user's clients) published XEP-0108 user
/// activity; empty `general` means they stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Activity {
    /// Bare JID of the publisher.
    pub jid: String,
    pub general: String,
    pub specific: Option<String>,
    pub text: Option<String>,
}
impl EventType for Activity {
    const TOPIC: &'static str = "xmpp.activity";
}

/// A contact published reachability addresses (XEP-0152), by PEP or in
/// presence; empty `addresses` means they stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reach {
    /// Bare JID of the publisher.
    pub jid: String,
    pub addresses: Vec<ReachAddress>,
}
impl EventType for Reach {
    const TOPIC: &'static str = "xmpp.reach";
}

/// A chat state (XEP-0085): someone is composing, paused, ... Carbons of the
/// user's own clients' states come with `via = carbon_sent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatStateEvent {
    pub from: String,
    pub to: String,
    pub state: ChatState,
    /// As in [`ChatMessage::via`].
    pub via: Via,
    /// As in [`ChatMessage::from_own_account`]: the user typing (to the
    /// bridge contact when `via` is direct).
    pub from_own_account: bool,
}
impl EventType for ChatStateEvent {
    const TOPIC: &'static str = "xmpp.chat_state";
}

/// A call in the user's own XMPP client (XEP-0353 Jingle Message
/// Initiation: Conversations, Dino, Gajim, Monal), seen by the sidecar as
/// Carbons or sent to it. Tandem does no Jingle media: these only say that
/// the user is on the phone there. The same fields come with each of
/// `xmpp.call.proposed`, `.ringing`, `.started` and `.ended`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JingleCall {
    /// The Jingle session id: one per call, in all four events.
    pub session: String,
    /// The other party's bare JID.
    pub peer: String,
    pub direction: crate::events::sip::Direction,
    /// `audio`, `video`, as proposed.
    pub media: Vec<String>,
    /// The user's client in the call (full JID), when known.
    pub device: Option<String>,
    /// Ended only: why.
    pub reason: Option<JingleEndReason>,
    /// Ended only: the XEP-0166 condition given (`busy`, `success`, …).
    pub condition: Option<String>,
    /// Ended only: seconds the call was up (0 if it never started).
    pub duration: f64,
}

/// Someone proposed a call to the user, or the user to someone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JingleCallProposed(pub JingleCall);
impl EventType for JingleCallProposed {
    const TOPIC: &'static str = "xmpp.call.proposed";
}

/// The called side's device rings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JingleCallRinging(pub JingleCall);
impl EventType for JingleCallRinging {
    const TOPIC: &'static str = "xmpp.call.ringing";
}

/// The call was taken: the user is on an XMPP call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JingleCallStarted(pub JingleCall);
impl EventType for JingleCallStarted {
    const TOPIC: &'static str = "xmpp.call.started";
}

/// The call is over, or never started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JingleCallEnded(pub JingleCall);
impl EventType for JingleCallEnded {
    const TOPIC: &'static str = "xmpp.call.ended";
}

open_enum! {
    /// Why an XMPP call ended (`xmpp.call.ended`'s `reason`).
    pub enum JingleEndReason {
        /// The called side declined (Tandem too, when busy).
        Rejected = "rejected",
        /// The caller gave up before an answer.
        Retracted = "retracted",
        /// One side hung up.
        Finished = "finished",
        /// Nothing was heard of it in time (no answer, or its end was missed).
        Expired = "expired",
        /// The user's client in the call went offline.
        DeviceGone = "device_gone",
    }
}
