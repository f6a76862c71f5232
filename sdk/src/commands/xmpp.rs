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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GetPresence {}
super::takes_no_arguments!(GetPresence);
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

/// Who a SIP peer is among the user's roster contacts: the one contact
/// that publishes `uri` itself (XEP-0152 reach, or a vCard SIP URI seen),
/// compared as RFC 3261 §19.1.4 says. The answer is verified only when
/// exactly one contact publishes it *and* `vouched` (the request came
/// through the user's SIP service, the event's `vouched`); otherwise at
/// most a claim: `claimed` (a `Call-Info` `xmpp:` address, with or
/// without the scheme) or that one contact's JID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WhoIs {
    pub uri: String,
    pub vouched: bool,
    pub claimed: Option<String>,
}
impl CommandType for WhoIs {
    const NAME: &'static str = "xmpp.who_is";
    type Reply = PeerIdentity;
}

/// What `xmpp.who_is` answers. `jid` and `name` only when `verified`: a
/// rule that uses them never trusts a claim by mistake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerIdentity {
    pub verified: bool,
    /// The contact's bare JID.
    pub jid: Option<String>,
    /// Their name on the user's roster, when it has one.
    pub name: Option<String>,
    /// A bare JID the peer claims or seems to be, unverified: show it as
    /// a claim ("claims to be bob@example.org (unverified)"), never act
    /// on it.
    pub claimed: Option<String>,
}

/// A XEP-0379 pre-authenticated roster link of the user's account for a
/// SIP peer (REQ-4): `xmpp:alice@example.org?roster;preauth=TOKEN`, to
/// send them (in a MESSAGE during a call). A subscription request carrying
/// the token is approved by the sidecar without asking the user: once,
/// within `preauth_ttl_hours`, and only from `jid` when given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreauthOffer {
    /// The SIP peer it is given to.
    pub peer: String,
    /// Their bare JID, when verified: the token binds to it.
    pub jid: Option<String>,
}
impl CommandType for PreauthOffer {
    const NAME: &'static str = "xmpp.preauth_offer";
    type Reply = PreauthLink;
}

/// What `xmpp.preauth_offer` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreauthLink {
    pub uri: String,
}

/// Asks a contact for their presence (and pre-approves theirs, RFC 6121
/// §3.4), with the token of a pre-authenticated roster link they gave
/// (`uri`, XEP-0379) so their sidecar approves it without asking them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddContact {
    /// A bare JID, or their `xmpp:…?roster;preauth=…` link.
    pub jid: String,
}
impl CommandType for AddContact {
    const NAME: &'static str = "xmpp.add_contact";
    type Reply = serde_json::Value;
}

/// Sends a chat message from the sidecar to the user's own other clients
/// ("Incoming call from Bob"), shown there like any message and kept in the
/// server's archive. Answers the message's id, which a reply from the
/// user's client names (XEP-0461), once it is sent or, with none of the
/// user's clients online, kept on disk for the first that comes. Refused
/// (`rejected`, saying why) when it cannot be kept: `held_notes` wait
/// already, or the file cannot be written. An older note is never dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyUser {
    /// The text; with `file`, the file's URL is the body instead (clients
    /// show a file inline only when the body is exactly its URL), and
    /// this may be empty.
    pub text: String,
    /// A conversation thread (XEP-0201), say one per SIP peer, which the
    /// user's client echoes in its answers.
    pub thread: Option<String>,
    /// A file to share, already uploaded (`xmpp.upload_slot`): sent with
    /// XEP-0066 OOB and XEP-0447 metadata (XEP-0446).
    pub file: Option<SharedFile>,
}

/// A file at a URL, as `xmpp.notify_user` shares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedFile {
    /// Where the user's client downloads it (HTTPS, the `get_url` of a slot).
    pub url: String,
    pub name: String,
    pub size: u64,
    pub media_type: Option<String>,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: Option<String>,
}

/// Asks the user's server for a place to upload a file (XEP-0363, the
/// service found by disco#items of the server). Refused when the server
/// has none or the file is larger than it takes (its limit said).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadSlot {
    pub filename: String,
    pub size: u64,
    pub content_type: Option<String>,
}
impl CommandType for UploadSlot {
    const NAME: &'static str = "xmpp.upload_slot";
    type Reply = Slot;
}

/// What `xmpp.upload_slot` answers: PUT the file to `put_url` with
/// `headers`, then share `get_url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Slot {
    pub put_url: String,
    pub get_url: String,
    /// Header name and value pairs the PUT must carry
    /// (`Authorization`, `Cookie` or `Expires` only, per XEP-0363).
    pub headers: Vec<(String, String)>,
}
impl CommandType for NotifyUser {
    const NAME: &'static str = "xmpp.notify_user";
    type Reply = NoteSent;
}

/// What `xmpp.notify_user` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoteSent {
    /// The id the note carries (the same for each of the user's clients).
    pub id: String,
}

/// Tells the sender of message `id` that it was delivered (a XEP-0184
/// receipt), for example once the SIP peer it was relayed to answered 2xx.
/// Answers `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendReceipt {
    /// The full JID that sent the message.
    pub to: String,
    pub id: String,
    /// The address the message was sent to (the event's `to`): the bridge
    /// contact's JID sends the receipt from the bridge contact, anything
    /// else (or none) from the sidecar resource.
    pub from: Option<String>,
}
impl CommandType for SendReceipt {
    const NAME: &'static str = "xmpp.send_receipt";
    type Reply = serde_json::Value;
}

/// The sidecar's connection, for `tandem ctl status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GetStatus {}
super::takes_no_arguments!(GetStatus, Reconnect);
impl CommandType for GetStatus {
    const NAME: &'static str = "xmpp.status";
    type Reply = Status;
}

/// Tries to log in now: after a refused login (which stops the retries, so
/// a wrong password cannot get the user's address banned) or to cut a wait
/// before the next attempt after a dropped connection. Answers `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconnect {}
impl CommandType for Reconnect {
    const NAME: &'static str = "xmpp.reconnect";
    type Reply = serde_json::Value;
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
    /// The SHA-256 of the certificate the server showed last, as
    /// `pin_sha256` takes it (also when it was refused).
    pub certificate_sha256: Option<String>,
    /// The bridge contact's own connection, when one is configured.
    pub bridge: Option<BridgeStatus>,
}

/// The bridge contact's connection, in `xmpp.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BridgeStatus {
    /// Its bare JID, as the user's roster shows it.
    pub jid: String,
    /// As [`Status::state`].
    pub state: String,
    pub reason: Option<String>,
    /// Its presence as the user sees it.
    pub presence: Presence,
}

/// Sets the bridge contact's presence: what the user's roster shows of the
/// phone (available, away "On the phone", xa "Not registered"). Answers
/// like `xmpp.set_presence`; refused when no bridge contact is configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SetBridgePresence(pub Presence);
impl CommandType for SetBridgePresence {
    const NAME: &'static str = "xmpp.set_bridge_presence";
    type Reply = PresenceChange;
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
    /// As in [`SendReceipt`]: the bridge contact's JID sends it from the
    /// bridge contact (where the user's client shows typing), anything
    /// else from the sidecar resource.
    pub from: Option<String>,
}
impl CommandType for SendChatState {
    const NAME: &'static str = "xmpp.send_chat_state";
    /// `{sent: bool}`.
    type Reply = serde_json::Value;
}

/// Shows the user that someone is typing to them, in the chat where notes
/// come from: the bridge contact's (XEP-0085 from it). Answers
/// `{sent: bool}`: false without a bridge contact (a client shows no chat
/// states in a note to self) or when it repeats the last state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyTyping {
    /// `composing`, `paused` or `active`.
    pub state: String,
}
impl CommandType for NotifyTyping {
    const NAME: &'static str = "xmpp.notify_typing";
    type Reply = serde_json::Value;
}

/// Sends a XEP-0482 call invite, or an answer to one, from the sidecar
/// to a contact: `invite` with the `uris` to join by (and `body`, the
/// text clients without XEP-0482 show); `accept` (with the uri chosen),
/// `reject`, `retract` or `left` naming the invite's `id`. Answers the id
/// (an invite's is new).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendCallInvite {
    pub to: String,
    pub action: crate::events::xmpp::InviteAction,
    pub id: Option<String>,
    pub uris: Vec<String>,
    pub body: Option<String>,
    pub thread: Option<String>,
}
impl CommandType for SendCallInvite {
    const NAME: &'static str = "xmpp.send_call_invite";
    /// `{id}`.
    type Reply = serde_json::Value;
}

/// Serves an ad-hoc command (XEP-0050) on the sidecar resource, for the
/// user's own clients only. Executing it calls the bus command `handler`
/// with an [`AdhocRun`]; the answer's `text` becomes the note the user
/// reads. Registering a node again replaces its command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterAdhoc {
    /// The command's node, unique on the sidecar (`status`, `call`).
    pub node: String,
    /// What the user's client lists ("Call").
    pub name: String,
    /// The bus command run on execute (a rule's `tandem.provide` name).
    pub handler: String,
    /// Asked first, as a form; none: the command runs at once.
    #[serde(default)]
    pub fields: Vec<AdhocField>,
    /// A bus command asked for the form each time it is shown (called
    /// with an [`AdhocRun`] without fields, answering an [`AdhocForm`]),
    /// so that a switch shows its current state; it takes the place of
    /// `fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
}
impl CommandType for RegisterAdhoc {
    const NAME: &'static str = "xmpp.register_adhoc";
    type Reply = AdhocRegistered;
}

/// A field an ad-hoc command asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdhocField {
    /// The key of its value in [`AdhocRun::fields`].
    pub var: String,
    pub label: String,
    /// Text (the default) or a switch.
    #[serde(default, rename = "type", skip_serializing_if = "FieldKind::is_text")]
    pub kind: FieldKind,
    /// Filled in beforehand: a switch's current state (`1` on, `0` off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What kind of field ([XEP-0004] types).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    /// `text-single`: a line of text, required.
    #[default]
    TextSingle,
    /// `boolean`: a switch; submitted as `1`/`true` or `0`/`false`.
    Boolean,
}

impl FieldKind {
    pub fn is_text(&self) -> bool {
        *self == FieldKind::TextSingle
    }
}

/// What a [`RegisterAdhoc::form`] command answers: the fields to show now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdhocForm {
    pub fields: Vec<AdhocField>,
}

/// What `xmpp.register_adhoc` answers: nothing yet, a struct so that
/// fields can be added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdhocRegistered {}

/// What an ad-hoc command's handler is called with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdhocRun {
    pub node: String,
    /// The full JID of the user's client that ran it.
    pub from: String,
    /// The submitted form's values, by field `var` (empty without a form).
    pub fields: std::collections::BTreeMap<String, String>,
}

/// What an ad-hoc command's handler answers: the note shown to the user.
/// (An answer without `text` is shown as its JSON.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdhocNote {
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn register_adhoc_reads_what_rules_send_and_refuses_typos() {
        let call: RegisterAdhoc = serde_json::from_value(json!({
            "node": "call", "name": "Call", "handler": "calls.call",
            "fields": [{"var": "uri", "label": "SIP URI"}]
        }))
        .unwrap();
        assert_eq!(
            call.fields,
            [AdhocField {
                var: "uri".into(),
                label: "SIP URI".into(),
                ..Default::default()
            }]
        );
        // A switch: its type and its state now.
        let switch: AdhocField = serde_json::from_value(
            json!({"var": "on-the-phone", "label": "L", "type": "boolean", "value": "1"}),
        )
        .unwrap();
        assert_eq!(
            (switch.kind, switch.value.as_deref()),
            (FieldKind::Boolean, Some("1"))
        );
        let one_step: RegisterAdhoc =
            serde_json::from_value(json!({"node": "status", "name": "Status", "handler": "s"}))
                .unwrap();
        assert!(one_step.fields.is_empty());
        for typo in [
            json!({"node": "n", "name": "N", "handler": "h", "feilds": []}),
            json!({"node": "n", "name": "N", "handler": "h", "fields": [{"var": "v", "lable": "L"}]}),
        ] {
            assert!(
                serde_json::from_value::<RegisterAdhoc>(typo.clone()).is_err(),
                "{typo}"
            );
        }
        assert_eq!(serde_json::to_value(AdhocRegistered {}).unwrap(), json!({}));
    }

    #[test]
    fn a_handler_gets_node_from_and_fields() {
        let run = AdhocRun {
            node: "call".into(),
            from: "alice@example.org/gajim".into(),
            fields: [("uri".to_owned(), "sip:bob@example.org".to_owned())].into(),
        };
        assert_eq!(
            serde_json::to_value(&run).unwrap(),
            json!({"node": "call", "from": "alice@example.org/gajim",
                   "fields": {"uri": "sip:bob@example.org"}})
        );
        let note: AdhocNote = serde_json::from_value(json!({"text": "Hung up."})).unwrap();
        assert_eq!(note.text, "Hung up.");
    }
}

/// Declines a call proposed to the user in XMPP (XEP-0353 `<reject>` to
/// the caller, which the user's own clients also see and stop ringing
/// for): `session` is the id of an `xmpp.call.proposed` event; `reason` a
/// XEP-0166 condition, `busy` (the default) or `decline`; `text` what the
/// caller's client may show. Refused for a call that is not proposed to
/// the user or already answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeclineCall {
    pub session: String,
    pub reason: Option<String>,
    pub text: Option<String>,
}
impl CommandType for DeclineCall {
    const NAME: &'static str = "xmpp.decline_call";
    type Reply = serde_json::Value;
}
