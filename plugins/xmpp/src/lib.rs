//! # tandem-plugin-xmpp
//!
//! The sidecar resource: logs into the user's own account next to their
//! client, with a negative priority so it never takes their messages, and
//! gives Tandem's rules the user's presence, their clients' presence, their
//! contacts' presence and a way to publish "On the phone".
//!
//! Commands: `xmpp.presence`, `xmpp.set_presence`, `xmpp.set_activity`,
//! `xmpp.notify_user`, `xmpp.status`, `xmpp.reconnect`. Events: `xmpp.connection`,
//! `xmpp.own_presence`, `xmpp.contact_presence`, `xmpp.message`.

mod activity;
mod adhoc;
mod adhoc_sessions;
mod backoff;
mod bounded;
mod caps;
mod chat;
mod config;
mod connect;
mod contacts;
mod convert;
mod features;
mod login;
mod reach;
mod session;
mod vcard;

use tandem_sdk::commands::xmpp::{
    KnownReach, NotifyUser, Presence, PresenceChange, ReachOf, SendChatState, SendMessage,
    SetActivity, SetPresence, SetReach,
};
use tandem_sdk::tokio::sync::{mpsc, oneshot};
use tandem_sdk::{
    export_plugin, BoxError, Command, CommandError, CommandType, ErrorKind, Event, Host, Manifest,
    Payload, Plugin,
};

pub use activity::{Activity, ActivityError};
pub use config::Config;
use session::{Request, Session};

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
            "xmpp.register_adhoc" => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Register {
                    node: String,
                    name: String,
                    handler: String,
                    #[serde(default)]
                    fields: Vec<adhoc::FormField>,
                }
                let Register {
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
                let registered = adhoc::Registered {
                    name,
                    handler,
                    fields,
                };
                self.tell(Request::RegisterAdhoc(node, registered)).await?;
                Ok(Payload::from(tandem_sdk::serde_json::json!({})))
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
                let state = chat::state_from_name(&state).ok_or_else(|| {
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
