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
//! transports (STARTTLS, direct TLS, plain TCP); `convert` the SDK's words
//! for XMPP values. The README has the arguments and answers.
//!
//! ## Commands
//!
//! (A unit test checks this list against the manifest, and the README's.)
//!
//! - `xmpp.presence`: the sidecar's presence
//! - `xmpp.set_presence`: sets it; answers it and the one it replaced
//! - `xmpp.set_activity`: publishes XEP-0108 user activity
//! - `xmpp.notify_user`: a chat message to each of the user's clients
//! - `xmpp.set_reach`: publishes XEP-0152 reachability addresses
//! - `xmpp.reach_of`: a contact's reachability addresses (or vCard SIP URIs)
//! - `xmpp.status`: the connection, the user's clients, contacts online
//! - `xmpp.reconnect`: tries a refused login again, or a dropped connection now
//! - `xmpp.register_adhoc`: serves a XEP-0050 ad-hoc command run by a bus command
//! - `xmpp.send_message`: a chat message from the sidecar
//! - `xmpp.send_chat_state`: a XEP-0085 chat state
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

mod config;
mod connect;
mod convert;
mod login;
mod peers;
mod session;
mod xep;

use tandem_sdk::commands::xmpp::{
    AdhocRegistered, KnownReach, NotifyUser, Presence, PresenceChange, ReachOf, RegisterAdhoc,
    SendChatState, SendMessage, SetActivity, SetPresence, SetReach,
};
use tandem_sdk::tokio::sync::{mpsc, oneshot};
use tandem_sdk::{
    export_plugin, BoxError, Command, CommandError, CommandType, ErrorKind, Event, Host, Manifest,
    Payload, Plugin,
};

pub use config::Config;
use session::{Registered, Request, Session};
pub use xep::activity::{Activity, ActivityError};
use xep::{adhoc, reach};

pub struct XmppPlugin {
    requests: mpsc::Sender<Request>,
}

impl Plugin for XmppPlugin {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("xmpp", env!("CARGO_PKG_VERSION"))
            .description("XMPP sidecar resource: presence, activity, notifications")
            .capability("xmpp.presence")
            .capability("xmpp.pep")
            .command("xmpp.presence")
            .command("xmpp.set_presence")
            .command("xmpp.set_activity")
            .command("xmpp.notify_user")
            .command("xmpp.set_reach")
            .command("xmpp.reach_of")
            .command("xmpp.status")
            .command("xmpp.reconnect")
            .command("xmpp.register_adhoc")
            .command("xmpp.send_message")
            .command("xmpp.send_chat_state")
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        let (requests, rx) = mpsc::channel(256);
        let session = Session::new(&config, host.clone(), requests.clone())?;
        tandem_sdk::tokio::spawn(session.run(rx));
        host.info(&format!(
            "connecting as {}/{} (priority {})",
            config.jid, config.resource, config.priority
        ));
        Ok(XmppPlugin { requests })
    }

    async fn on_event(&self, _event: Event) -> Result<(), BoxError> {
        Ok(())
    }

    async fn on_command(&self, command: Command) -> Result<Payload, CommandError> {
        match command.name() {
            "xmpp.presence" => {
                let presence = self.ask(Request::Presence).await?;
                Ok(Payload::encode(&presence)?)
            }
            SetPresence::NAME => {
                let SetPresence(presence) = command.decode()?;
                convert::show_from_name(presence.show.as_deref())
                    .map_err(|e| CommandError::new(ErrorKind::InvalidArguments, e.to_string()))?;
                let presence = Presence {
                    priority: presence.priority.or(Some(-1)),
                    ..presence
                };
                let (now, previous) = self
                    .ask(|reply| Request::SetPresence(presence, reply))
                    .await?;
                Ok(Payload::encode(&PresenceChange { now, previous })?)
            }
            SetActivity::NAME => {
                let SetActivity {
                    general,
                    specific,
                    text,
                } = command.decode()?;
                let activity = Activity {
                    general,
                    specific,
                    text,
                };
                activity
                    .validate()
                    .map_err(|e| CommandError::new(ErrorKind::InvalidArguments, e.to_string()))?;
                self.tell(Request::SetActivity(activity)).await?;
                Ok(Payload::from(tandem_sdk::serde_json::json!({})))
            }
            SetReach::NAME => {
                let SetReach { addresses } = command.decode()?;
                let addresses: Vec<reach::Address> =
                    addresses.into_iter().map(convert::reach_from_sdk).collect();
                reach::validate(&addresses)
                    .map_err(|e| CommandError::new(ErrorKind::InvalidArguments, e.to_string()))?;
                self.tell(Request::SetReach(addresses)).await?;
                Ok(Payload::from(tandem_sdk::serde_json::json!({})))
            }
            ReachOf::NAME => {
                let ReachOf { jid } = command.decode()?;
                let bare = jid_arg(&jid)?.to_bare();
                let mut known = self
                    .ask(|reply| Request::ReachOf(bare.clone(), reply))
                    .await?;
                if known.is_empty() {
                    // No XEP-0152 addresses: the SIP URIs of their vCard.
                    known = self.ask(|reply| Request::VcardSip(bare, reply)).await?;
                }
                Ok(Payload::encode(&KnownReach {
                    addresses: known.iter().map(convert::reach_to_sdk).collect(),
                })?)
            }
            NotifyUser::NAME => {
                let NotifyUser { text } = command.decode()?;
                if text.trim().is_empty() {
                    return Err(CommandError::new(
                        ErrorKind::InvalidArguments,
                        "text is empty",
                    ));
                }
                self.tell(Request::NotifyUser(text)).await?;
                Ok(Payload::from(tandem_sdk::serde_json::json!({})))
            }
            RegisterAdhoc::NAME => {
                let RegisterAdhoc {
                    node,
                    name,
                    handler,
                    fields,
                } = command.decode()?;
                if node.is_empty() || handler.is_empty() || handler.starts_with('@') {
                    return Err(CommandError::new(
                        ErrorKind::InvalidArguments,
                        "node and handler (a bus command) are required",
                    ));
                }
                let registered = Registered {
                    name,
                    handler,
                    fields: fields
                        .into_iter()
                        .map(|f| adhoc::FormField {
                            var: f.var,
                            label: f.label,
                        })
                        .collect(),
                };
                self.tell(Request::RegisterAdhoc(node, registered)).await?;
                Ok(Payload::encode(&AdhocRegistered {})?)
            }
            SendMessage::NAME => {
                let SendMessage { to, body, thread } = command.decode()?;
                let to = jid_arg(&to)?;
                if body.is_empty() {
                    return Err(CommandError::new(
                        ErrorKind::InvalidArguments,
                        "body is empty",
                    ));
                }
                self.tell(Request::SendMessage { to, body, thread }).await?;
                Ok(Payload::from(tandem_sdk::serde_json::json!({})))
            }
            SendChatState::NAME => {
                let SendChatState { to, state } = command.decode()?;
                let to = jid_arg(&to)?;
                let state = convert::chat_state_from_name(&state).ok_or_else(|| {
                    CommandError::new(
                        ErrorKind::InvalidArguments,
                        format!("state must be active, composing, paused, inactive or gone, not `{state}`"),
                    )
                })?;
                let sent = self
                    .ask(|reply| Request::SendChatState(to, state, reply))
                    .await?
                    .map_err(|why| CommandError::new(ErrorKind::Rejected, why))?;
                Ok(Payload::from(
                    tandem_sdk::serde_json::json!({ "sent": sent }),
                ))
            }
            "xmpp.reconnect" => {
                self.tell(Request::Reconnect).await?;
                Ok(Payload::from(tandem_sdk::serde_json::json!({})))
            }
            "xmpp.status" => {
                let status = self.ask(Request::Status).await?;
                Ok(Payload::encode(&status)?)
            }
            other => Err(CommandError::unknown_command(other)),
        }
    }

    async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.requests.send(Request::Stop(done)).await.is_ok() {
            let _ = tandem_sdk::tokio::time::timeout(std::time::Duration::from_secs(2), wait).await;
        }
    }
}

impl XmppPlugin {
    async fn tell(&self, request: Request) -> Result<(), CommandError> {
        self.requests
            .send(request)
            .await
            .map_err(|_| CommandError::new(ErrorKind::PluginFailed, "the XMPP session has ended"))
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.tell(request(reply)).await?;
        answer
            .await
            .map_err(|_| CommandError::new(ErrorKind::PluginFailed, "the XMPP session has ended"))
    }
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
        Activity, ChatMessage, ChatStateEvent, Connection, ContactPresence, OwnPresence, Reach,
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
        let manifest: BTreeSet<String> = XmppPlugin::manifest().commands.into_iter().collect();
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
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(listed_in_doc("Events"), published, "lib.rs doc");
        assert_eq!(listed_in_readme("Events"), published, "README");
    }
}
