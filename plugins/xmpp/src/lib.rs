//! # tandem-plugin-xmpp
//!
//! The sidecar resource: logs into the user's own account next to their
//! client, with a negative priority so it never takes their messages, and
//! gives Tandem's rules the user's presence, their clients' presence, their
//! contacts' presence and a way to publish "On the phone". It holds no
//! policy: which rule does what, and what the host's status looks like to a
//! person, belong to rules (the "Status" ad-hoc command is
//! `scripts/status-commands.lua`).
//!
//! Layout: `session` is the one task that owns the XMPP client, split by
//! stanza kind; `xep` holds the pure payload codecs, one module per XEP;
//! `peers` what the session remembers of others (bounded); `connect` the
//! transports (STARTTLS, direct TLS, plain TCP); `certificate` trusting
//! and explaining the server's certificate; `upload` the XEP-0363 slot
//! command (several IQs through the session); `commands` the handlers
//! of identity and call commands; `convert` the SDK's words for XMPP values. The README has the arguments and answers.
//!
//! ## Commands
//!
//! (A unit test checks this list against the command table, and the README's.)
//!
//! - `xmpp.presence`: the sidecar's presence
//! - `xmpp.set_presence`: sets it; answers it and the one it replaced
//! - `xmpp.set_activity`: publishes XEP-0108 user activity
//! - `xmpp.notify_user`: a chat message to each of the user's clients (answers its id)
//! - `xmpp.set_reach`: publishes XEP-0152 reachability addresses
//! - `xmpp.reach_of`: a contact's reachability addresses (or vCard SIP URIs)
//! - `xmpp.who_is`: which roster contact a SIP peer is, verified or claimed
//! - `xmpp.preauth_offer`: a pre-authenticated roster link for a SIP peer (XEP-0379)
//! - `xmpp.add_contact`: asks a contact for their presence, with their link's token
//! - `xmpp.status`: the connection, the user's clients, contacts online
//! - `xmpp.reconnect`: tries a refused login again, or a dropped connection now
//! - `xmpp.register_adhoc`: serves a XEP-0050 ad-hoc command run by a bus command
//! - `xmpp.send_message`: a chat message from the sidecar
//! - `xmpp.send_chat_state`: a XEP-0085 chat state
//! - `xmpp.send_receipt`: a XEP-0184 receipt for a message received
//! - `xmpp.set_bridge_presence`: sets the bridge contact's presence (the phone's)
//! - `xmpp.notify_typing`: shows the user that someone types, from the bridge contact
//! - `xmpp.upload_slot`: asks the user's server where to upload a file (XEP-0363)
//! - `xmpp.send_call_invite`: a XEP-0482 call invite to a contact, or an answer to one
//! - `xmpp.decline_call`: declines a call proposed to the user in XMPP (XEP-0353 reject)
//!
//! ## Events
//!
//! - `xmpp.connection`: online or offline
//! - `xmpp.own_presence`: one of the user's other clients
//! - `xmpp.contact_presence`: a contact's resource, with reach and features
//! - `xmpp.message`: a chat message, direct or by Carbons
//! - `xmpp.chat_state`: a chat state, direct or by Carbons
//! - `xmpp.activity`: a contact's XEP-0108 activity
//! - `xmpp.reach`: a contact's XEP-0152 reachability addresses changed
//! - `xmpp.call_invite`: a XEP-0482 call invite, or an answer to one
//! - `xmpp.call.proposed`: a call proposed to or by the user in XMPP (XEP-0353)
//! - `xmpp.call.ringing`: the called side's device rings
//! - `xmpp.call.started`: the user is on an XMPP call
//! - `xmpp.call.ended`: the XMPP call is over, or never started

mod certificate;
mod commands;
mod config;
mod connect;
mod convert;
mod login;
mod peers;
pub use peers::identify::Index as CallerIndex;
mod session;
mod spool;
mod upload;
mod xep;

use tandem_sdk::commands::xmpp::{
    AddContact, AdhocRegistered, BridgeStatus, DeclineCall, GetPresence, GetStatus, NoteSent,
    NotifyTyping, NotifyUser, PreauthOffer, Presence, PresenceChange, ReachOf, Reconnect,
    RegisterAdhoc, SendCallInvite, SendChatState, SendMessage, SendReceipt, SetActivity,
    SetBridgePresence, SetPresence, SetReach, Status, UploadSlot, WhoIs,
};
use tandem_sdk::serde_json::{json, Value};
use tandem_sdk::tokio::sync::{mpsc, oneshot};
use tandem_sdk::{
    export_plugin, BoxError, CommandError, Commands, ErrorKind, Event, Handler, Host, Manifest,
    Plugin,
};

pub use config::Config;
use session::{Note, Registered, Request, Role, Session};
use std::str::FromStr;
pub use xep::activity::{Activity, ActivityError};
use xep::{adhoc, reach};
use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::BareJid;

pub struct XmppPlugin {
    requests: mpsc::Sender<Request>,
    /// The user's account (its server gives upload slots).
    account: BareJid,
    /// The bridge contact's session, when one is configured.
    bridge: Option<Bridge>,
}

/// The bridge contact: its address and its session.
struct Bridge {
    jid: BareJid,
    /// The user's account, which it writes to.
    owner: BareJid,
    requests: mpsc::Sender<Request>,
}

impl Plugin for XmppPlugin {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("xmpp", env!("CARGO_PKG_VERSION"))
            .description("XMPP sidecar resource: presence, activity, notifications")
            .capability("xmpp.presence")
            .capability("xmpp.pep")
    }

    fn commands() -> Commands<Self> {
        Commands::new()
            .command::<GetPresence>("The sidecar's presence")
            .command::<SetPresence>("Sets it; answers it and the one it replaced")
            .command::<SetActivity>("Publishes XEP-0108 user activity")
            .command::<NotifyUser>("A chat message to each of the user's clients")
            .command::<SetReach>("Publishes XEP-0152 reachability addresses")
            .command::<ReachOf>("A contact's reachability addresses (or vCard SIP URIs)")
            .command::<WhoIs>("Which roster contact a SIP peer is, verified or claimed")
            .command::<PreauthOffer>("A pre-authenticated roster link for a SIP peer (XEP-0379)")
            .command::<AddContact>("Asks a contact for their presence, with their link's token")
            .command::<GetStatus>("The connection, the user's clients, contacts online")
            .command::<Reconnect>("Tries a refused login again, or a dropped connection now")
            .command::<RegisterAdhoc>("Serves a XEP-0050 ad-hoc command run by a bus command")
            .command::<SendMessage>("A chat message from the sidecar")
            .command::<SendChatState>("A XEP-0085 chat state")
            .command::<SendReceipt>("A XEP-0184 receipt for a message received")
            .command::<SetBridgePresence>("Sets the bridge contact's presence (the phone's)")
            .command::<NotifyTyping>("Shows the user that someone types, from the bridge contact")
            .command::<UploadSlot>("Asks the user's server where to upload a file (XEP-0363)")
            .command::<SendCallInvite>("A XEP-0482 call invite to a contact, or an answer to one")
            .command::<DeclineCall>(
                "Declines a call proposed to the user in XMPP (XEP-0353 reject)",
            )
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        let bridge_jid = match &config.bridge_jid {
            Some(jid) => Some(bridge_jid(jid, &config.jid)?),
            None => None,
        };
        let (requests, rx) = mpsc::channel(256);
        let sidecar = Role::Sidecar {
            bridge: bridge_jid.clone(),
        };
        let mut session = Session::new(&config, host.clone(), requests.clone(), sidecar)?;
        let bridge = match (bridge_jid, config.bridge()) {
            (Some(jid), Some(bridge_config)) => {
                let owner = BareJid::from_str(&config.jid)
                    .map_err(|_| session::StartError::BadJid(config.jid.clone()))?;
                let (tx, rx) = mpsc::channel(256);
                let role = Role::Bridge {
                    owner: owner.clone(),
                };
                let mut bridge = Session::new(&bridge_config, host.clone(), tx.clone(), role)?;
                bridge.pair_with(requests.clone());
                session.pair_with(tx.clone());
                tandem_sdk::tokio::spawn(bridge.run(rx));
                host.info(&format!(
                    "bridge contact: connecting as {jid}/{}; notes come from it",
                    config.resource
                ));
                Some(Bridge {
                    jid,
                    owner,
                    requests: tx,
                })
            }
            _ => None,
        };
        tandem_sdk::tokio::spawn(session.run(rx));
        host.info(&format!(
            "connecting as {}/{} (priority {})",
            config.jid, config.resource, config.priority
        ));
        let account = BareJid::from_str(&config.jid)
            .map_err(|_| session::StartError::BadJid(config.jid.clone()))?;
        Ok(XmppPlugin {
            requests,
            account,
            bridge,
        })
    }

    async fn on_event(&self, _event: Event) -> Result<(), BoxError> {
        Ok(())
    }

    async fn stop(&self) {
        let sessions =
            std::iter::once(&self.requests).chain(self.bridge.as_ref().map(|b| &b.requests));
        let mut waits = Vec::new();
        for requests in sessions {
            let (done, wait) = oneshot::channel();
            if requests.send(Request::Stop(done)).await.is_ok() {
                waits.push(wait);
            }
        }
        // Both stop at once: one deadline for the two.
        let deadline = tandem_sdk::tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        for wait in waits {
            let _ = tandem_sdk::tokio::time::timeout_at(deadline, wait).await;
        }
    }
}

/// The answer of commands that only say they were done.
fn done() -> Value {
    json!({})
}

/// An invalid-arguments error from anything that displays.
fn invalid(e: impl std::fmt::Display) -> CommandError {
    CommandError::new(ErrorKind::InvalidArguments, e.to_string())
}

impl Handler<GetPresence> for XmppPlugin {
    async fn handle(&self, _: GetPresence) -> Result<Presence, CommandError> {
        self.ask(Request::Presence).await
    }
}

impl Handler<SetPresence> for XmppPlugin {
    async fn handle(
        &self,
        SetPresence(presence): SetPresence,
    ) -> Result<PresenceChange, CommandError> {
        // Below the user's clients unless the rule says otherwise.
        set_presence(&self.requests, presence, -1).await
    }
}

/// Sets a session's presence (checked; `priority` unless one is given);
/// answers it and the one it replaced.
async fn set_presence(
    session: &mpsc::Sender<Request>,
    presence: Presence,
    priority: i8,
) -> Result<PresenceChange, CommandError> {
    convert::show_from_name(presence.show.as_deref()).map_err(invalid)?;
    let presence = Presence {
        priority: presence.priority.or(Some(priority)),
        ..presence
    };
    let (now, previous) = ask(session, |reply| Request::SetPresence(presence, reply)).await?;
    Ok(PresenceChange { now, previous })
}

impl Handler<SetActivity> for XmppPlugin {
    async fn handle(&self, request: SetActivity) -> Result<Value, CommandError> {
        let SetActivity {
            general,
            specific,
            text,
        } = request;
        let activity = Activity {
            general,
            specific,
            text,
        };
        activity.validate().map_err(invalid)?;
        self.tell(Request::SetActivity(activity)).await?;
        Ok(done())
    }
}

impl Handler<SetReach> for XmppPlugin {
    async fn handle(&self, SetReach { addresses }: SetReach) -> Result<Value, CommandError> {
        let addresses: Vec<reach::Address> =
            addresses.into_iter().map(convert::reach_from_sdk).collect();
        reach::validate(&addresses).map_err(invalid)?;
        self.tell(Request::SetReach(addresses)).await?;
        Ok(done())
    }
}

impl Handler<NotifyUser> for XmppPlugin {
    async fn handle(
        &self,
        NotifyUser { text, thread, file }: NotifyUser,
    ) -> Result<NoteSent, CommandError> {
        if let Some(file) = &file {
            if !file.url.starts_with("https://") && !file.url.starts_with("http://") {
                return Err(invalid(format!(
                    "file.url must be an http(s) URL (an upload slot's get_url), not `{}`",
                    file.url
                )));
            }
        } else if text.trim().is_empty() {
            return Err(invalid("text is empty"));
        }
        let note = Note {
            file,
            ..Note::new(text, thread)
        };
        let id = note.id.clone();
        // From the bridge contact when there is one: a contact's message
        // alerts; a note to self does not.
        let session = self.bridge.as_ref().map_or(&self.requests, |b| &b.requests);
        ask(session, |kept| Request::NotifyUser(note, kept))
            .await?
            .map_err(CommandError::rejected)?;
        Ok(NoteSent { id })
    }
}

impl Handler<SendReceipt> for XmppPlugin {
    async fn handle(
        &self,
        SendReceipt { to, id, from }: SendReceipt,
    ) -> Result<Value, CommandError> {
        let to = jid_arg(&to)?;
        if id.is_empty() {
            return Err(invalid("id is empty: which message was received?"));
        }
        tell(self.sender(from.as_deref()), Request::SendReceipt(to, id)).await?;
        Ok(done())
    }
}

impl Handler<RegisterAdhoc> for XmppPlugin {
    async fn handle(&self, request: RegisterAdhoc) -> Result<AdhocRegistered, CommandError> {
        let RegisterAdhoc {
            node,
            name,
            handler,
            fields,
            form,
        } = request;
        if node.is_empty()
            || handler.is_empty()
            || handler.starts_with('@')
            || form
                .as_deref()
                .is_some_and(|f| f.is_empty() || f.starts_with('@'))
        {
            return Err(invalid("node and handler (a bus command) are required"));
        }
        let registered = Registered {
            name,
            handler,
            fields: fields.into_iter().map(adhoc::FormField::from).collect(),
            form,
        };
        // Also on the bridge contact, whose commands every client that
        // runs commands on a contact reaches (Gajim's "Execute Command").
        if let Some(bridge) = &self.bridge {
            tell(
                &bridge.requests,
                Request::RegisterAdhoc(node.clone(), registered.clone()),
            )
            .await?;
        }
        self.tell(Request::RegisterAdhoc(node, registered)).await?;
        Ok(AdhocRegistered {})
    }
}

impl Handler<SendMessage> for XmppPlugin {
    async fn handle(
        &self,
        SendMessage { to, body, thread }: SendMessage,
    ) -> Result<Value, CommandError> {
        let to = jid_arg(&to)?;
        if body.is_empty() {
            return Err(invalid("body is empty"));
        }
        self.tell(Request::SendMessage { to, body, thread }).await?;
        Ok(done())
    }
}

impl Handler<SendChatState> for XmppPlugin {
    async fn handle(
        &self,
        SendChatState { to, state, from }: SendChatState,
    ) -> Result<Value, CommandError> {
        let to = jid_arg(&to)?;
        let state = convert::chat_state_from_name(&state).ok_or_else(|| {
            invalid(format!(
                "state must be active, composing, paused, inactive or gone, not `{state}`"
            ))
        })?;
        let sent = ask(self.sender(from.as_deref()), |reply| {
            Request::SendChatState(to, state, reply)
        })
        .await?
        .map_err(|why| CommandError::new(ErrorKind::Rejected, why))?;
        Ok(json!({ "sent": sent }))
    }
}

impl Handler<Reconnect> for XmppPlugin {
    async fn handle(&self, _: Reconnect) -> Result<Value, CommandError> {
        self.tell(Request::Reconnect).await?;
        Ok(done())
    }
}

impl Handler<SetBridgePresence> for XmppPlugin {
    async fn handle(
        &self,
        SetBridgePresence(presence): SetBridgePresence,
    ) -> Result<PresenceChange, CommandError> {
        let Some(bridge) = &self.bridge else {
            return Err(CommandError::new(
                ErrorKind::Rejected,
                "there is no bridge contact: set bridge_jid in [plugins.xmpp]",
            ));
        };
        // A contact of the user's: messages to its bare JID are for it.
        set_presence(&bridge.requests, presence, 0).await
    }
}

impl Handler<NotifyTyping> for XmppPlugin {
    async fn handle(&self, NotifyTyping { state }: NotifyTyping) -> Result<Value, CommandError> {
        let state = match convert::chat_state_from_name(&state) {
            Some(s @ (ChatState::Composing | ChatState::Paused | ChatState::Active)) => s,
            _ => {
                return Err(invalid(format!(
                    "state must be composing, paused or active, not `{state}`"
                )))
            }
        };
        let Some(bridge) = &self.bridge else {
            return Ok(json!({ "sent": false }));
        };
        let to = xmpp_parsers::jid::Jid::from(bridge.owner.clone());
        let sent = ask(&bridge.requests, |reply| {
            Request::SendChatState(to, state, reply)
        })
        .await?
        .unwrap_or(false);
        Ok(json!({ "sent": sent }))
    }
}

impl Handler<GetStatus> for XmppPlugin {
    async fn handle(&self, _: GetStatus) -> Result<Status, CommandError> {
        let mut status: Status = self.ask(Request::Status).await?;
        if let Some(bridge) = &self.bridge {
            let of_bridge: Status = ask(&bridge.requests, Request::Status).await?;
            let presence = ask(&bridge.requests, Request::Presence).await?;
            status.bridge = Some(BridgeStatus {
                jid: bridge.jid.to_string(),
                state: of_bridge.state,
                reason: of_bridge.reason,
                presence,
            });
        }
        Ok(status)
    }
}

impl XmppPlugin {
    async fn tell(&self, request: Request) -> Result<(), CommandError> {
        tell(&self.requests, request).await
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, CommandError> {
        ask(&self.requests, request).await
    }

    /// The session that sends as `from`: the bridge contact's when `from`
    /// is its address, else the sidecar's.
    fn sender(&self, from: Option<&str>) -> &mpsc::Sender<Request> {
        let from = from.and_then(|f| xmpp_parsers::jid::Jid::from_str(f).ok());
        match (&self.bridge, from) {
            (Some(bridge), Some(from)) if from.to_bare() == bridge.jid => &bridge.requests,
            _ => &self.requests,
        }
    }
}

async fn tell(session: &mpsc::Sender<Request>, request: Request) -> Result<(), CommandError> {
    session
        .send(request)
        .await
        .map_err(|_| CommandError::new(ErrorKind::PluginFailed, "the XMPP session has ended"))
}

async fn ask<T>(
    session: &mpsc::Sender<Request>,
    request: impl FnOnce(oneshot::Sender<T>) -> Request,
) -> Result<T, CommandError> {
    let (reply, answer) = oneshot::channel();
    tell(session, request(reply)).await?;
    answer
        .await
        .map_err(|_| CommandError::new(ErrorKind::PluginFailed, "the XMPP session has ended"))
}

/// `bridge_jid`, checked: a bare JID, not the user's own account.
fn bridge_jid(text: &str, own: &str) -> Result<BareJid, session::StartError> {
    let bad = || session::StartError::BadBridge(text.to_owned());
    let jid = BareJid::from_str(text).map_err(|_| bad())?;
    if text.contains('/') || jid.node().is_none() || jid.as_str() == own {
        return Err(bad());
    }
    Ok(jid)
}

/// A JID argument, or a clear error.
fn jid_arg(text: &str) -> Result<xmpp_parsers::jid::Jid, CommandError> {
    text.parse().map_err(|e| {
        CommandError::new(
            ErrorKind::InvalidArguments,
            format!("`{text}` is not a JID: {e}"),
        )
    })
}

export_plugin!(XmppPlugin);

#[cfg(test)]
mod doc_tests {
    use super::*;
    use std::collections::BTreeSet;
    use tandem_sdk::events::xmpp::{
        Activity, CallInvite, ChatMessage, ChatStateEvent, Connection, ContactPresence,
        JingleCallEnded, JingleCallProposed, JingleCallRinging, JingleCallStarted, OwnPresence,
        Reach,
    };
    use tandem_sdk::EventType;

    /// The names listed as "- `xmpp.…`" under `heading` in the crate doc.
    fn listed_in_doc(heading: &str) -> BTreeSet<String> {
        let doc = include_str!("lib.rs");
        let section = doc
            .split(&format!("//! ## {heading}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no `## {heading}` in the crate doc"));
        section
            .lines()
            .take_while(|l| l.starts_with("//!") && !l.starts_with("//! ## "))
            .filter_map(|l| l.strip_prefix("//! - `"))
            .filter_map(|l| l.split('`').next())
            .map(str::to_owned)
            .collect()
    }

    /// The names in the first column of the README's table under `heading`.
    fn listed_in_readme(heading: &str) -> BTreeSet<String> {
        let readme = include_str!("../README.md");
        let section = readme
            .split(&format!("## {heading}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no `## {heading}` in the README"));
        section
            .lines()
            .take_while(|l| !l.starts_with("## "))
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_docs_list_every_command_of_the_manifest() {
        tandem_sdk::testing::assert_commands_agree::<XmppPlugin>();
        let manifest: BTreeSet<String> = tandem_sdk::manifest_of::<XmppPlugin>()
            .commands
            .into_iter()
            .collect();
        assert_eq!(listed_in_doc("Commands"), manifest, "lib.rs doc");
        assert_eq!(listed_in_readme("Commands"), manifest, "README");
    }

    #[test]
    fn the_docs_list_every_event_published() {
        // The SDK's XMPP event types, all of which the session publishes.
        let published: BTreeSet<String> = [
            Connection::TOPIC,
            OwnPresence::TOPIC,
            ContactPresence::TOPIC,
            ChatMessage::TOPIC,
            ChatStateEvent::TOPIC,
            Activity::TOPIC,
            Reach::TOPIC,
            CallInvite::TOPIC,
            JingleCallProposed::TOPIC,
            JingleCallRinging::TOPIC,
            JingleCallStarted::TOPIC,
            JingleCallEnded::TOPIC,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(listed_in_doc("Events"), published, "lib.rs doc");
        assert_eq!(listed_in_readme("Events"), published, "README");
    }
}
