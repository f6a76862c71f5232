//! # tandem-plugin-composing
//!
//! Who is typing, across protocols. SIP peers say it with RFC 3994
//! is-composing documents in MESSAGEs; XMPP clients with XEP-0085 chat
//! states. This plugin reads the one and writes the other's equivalent,
//! so rules (and the user's client, through them) see typing both ways:
//!
//! - a SIP peer's `active` → `composing.peer` with `state: composing`;
//!   their `idle`, their next message, or no refresh in time (the
//!   `refresh` they gave, else 120 s) → `state: idle`. Changes only.
//! - `composing.user_typing {to, state}` with the user's XEP-0085 state
//!   towards a SIP peer → is-composing `active`/`idle` to that peer over
//!   `sip.send_message`, only when it tells them something new (see
//!   `sender`); a peer that answers 415 gets none again.
//!
//! It depends only on the SDK: `sip.message` events in, `sip.send_message`
//! calls out. Layout: `document` (the RFC 3994 XML, read with a size cap),
//! `receiver` and `sender` (the two state machines, pure, with the time
//! passed in), this file (the plugin: config, events, the command, a 1 s
//! tick for timeouts).
//!
//! ## Commands
//!
//! - `composing.user_typing`: the user's typing towards a SIP peer
//!
//! ## Events
//!
//! - `composing.peer`: a peer started or stopped typing to the user

mod document;
mod receiver;
mod sender;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tandem_sdk::commands::composing::{TypingSent, UserTyping};
use tandem_sdk::commands::sip::SendMessage;
use tandem_sdk::events::composing::{PeerTyping, Typing};
use tandem_sdk::events::sip::Message;
use tandem_sdk::util::LogThrottle;
use tandem_sdk::{
    export_plugin, BoxError, CommandError, Commands, Event, EventType, Handler, Host, Manifest,
    Plugin,
};

use document::{Indication, State};
use receiver::{Change, Receiving};
use sender::{Action, ChatState, Sending};

/// `[plugins.composing]` in tandem.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Tell SIP peers when the user types (`composing.user_typing`); false
    /// keeps it private (peers' typing is still shown).
    pub send_typing: bool,
    /// Typing that stops without a word is `idle` after this many seconds.
    pub idle_after_seconds: u64,
    /// The refresh interval announced with `active` (RFC 3994: at least 60).
    pub refresh_seconds: u64,
    /// Peers remembered per direction; the oldest are forgotten first.
    pub max_peers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            send_typing: true,
            idle_after_seconds: 15,
            refresh_seconds: 90,
            max_peers: 1024,
        }
    }
}

struct Shared {
    receiving: Receiving,
    sending: Sending,
}

pub struct ComposingPlugin {
    host: Host,
    send_typing: bool,
    state: Arc<Mutex<Shared>>,
    malformed: LogThrottle,
    /// Held from the decision to the peer's answer, so the user's typing
    /// goes out in the order it came, and a caller (sip-chat.lua, about to
    /// send the user's message) that reports `active` first waits until
    /// an indication in flight has arrived: "typing" must never reach the
    /// peer after the message it announced.
    in_order: tandem_sdk::tokio::sync::Mutex<()>,
}

impl Plugin for ComposingPlugin {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("composing", env!("CARGO_PKG_VERSION"))
            .description("Who is typing: RFC 3994 is-composing for SIP, in XEP-0085's words")
            .event(Message::TOPIC)
    }

    fn commands() -> Commands<Self> {
        Commands::new()
            .command::<UserTyping>("The user's typing towards a SIP peer (XEP-0085 state)")
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        if config.refresh_seconds < 60 {
            return Err(format!(
                "[plugins.composing] refresh_seconds must be at least 60 (RFC 3994 §3.1), not {}",
                config.refresh_seconds
            )
            .into());
        }
        if config.idle_after_seconds == 0 {
            return Err("[plugins.composing] idle_after_seconds must be at least 1".into());
        }
        let state = Arc::new(Mutex::new(Shared {
            receiving: Receiving::new(config.max_peers),
            sending: Sending::new(
                config.max_peers,
                Duration::from_secs(config.refresh_seconds),
                Duration::from_secs(config.idle_after_seconds),
            ),
        }));
        tandem_sdk::tokio::spawn(tick(host.clone(), state.clone()));
        Ok(ComposingPlugin {
            host,
            send_typing: config.send_typing,
            state,
            malformed: LogThrottle::new(),
            in_order: Default::default(),
        })
    }

    async fn on_event(&self, event: Event) -> Result<(), BoxError> {
        if event.topic() != Message::TOPIC {
            return Ok(());
        }
        let message: Message = event.decode()?;
        let changes = if document::is_iscomposing(&message.content_type) {
            match Indication::parse(&message.body) {
                Ok(indication) => {
                    self.lock()
                        .receiving
                        .indication(&message.from, &indication, Instant::now())
                }
                Err(e) => {
                    if let Some(n) = self.malformed.hit() {
                        self.host.warn(&format!(
                            "is-composing from {} ignored: {e} ({n} so far)",
                            message.from
                        ));
                    }
                    Vec::new()
                }
            }
        } else {
            self.lock()
                .receiving
                .message(&message.from)
                .into_iter()
                .collect()
        };
        publish(&self.host, changes);
        Ok(())
    }
}

impl ComposingPlugin {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Handler<UserTyping> for ComposingPlugin {
    async fn handle(
        &self,
        UserTyping { to, state }: UserTyping,
    ) -> Result<TypingSent, CommandError> {
        let chat_state = ChatState::from_name(&state).ok_or_else(|| {
            CommandError::invalid_arguments(format!(
                "state must be active, composing, paused, inactive or gone, not `{state}`"
            ))
        })?;
        if !to.starts_with("sip:") && !to.starts_with("sips:") {
            return Err(CommandError::invalid_arguments(format!(
                "`{to}` is not a SIP URI (sip:user@host)"
            )));
        }
        if !self.send_typing {
            return Ok(TypingSent {
                sent: None,
                reason: Some("telling SIP peers about typing is switched off".into()),
            });
        }
        let _in_order = self.in_order.lock().await;
        let (action, refresh) = {
            let mut state = self.lock();
            let action = state.sending.user(&to, chat_state, Instant::now());
            (action, state.sending.refresh_seconds())
        };
        match action {
            Action::Nothing => Ok(TypingSent::default()),
            Action::Refused => Ok(TypingSent {
                sent: None,
                reason: Some(refused_reason(&to)),
            }),
            Action::Send(state) => send(&self.host, &self.state, &to, state, refresh).await,
        }
    }
}

fn refused_reason(to: &str) -> String {
    format!("{to} does not take is-composing (it answered 415)")
}

/// Sends one is-composing to `to`, and remembers a 415.
async fn send(
    host: &Host,
    shared: &Mutex<Shared>,
    to: &str,
    state: State,
    refresh: u32,
) -> Result<TypingSent, CommandError> {
    let indication = Indication {
        state,
        refresh: (state == State::Active).then_some(refresh),
        content_type: Some("text/plain".into()),
    };
    let request = SendMessage {
        to: to.to_owned(),
        body: indication.to_xml(),
        content_type: Some(document::CONTENT_TYPE.to_owned()),
    };
    let lock = || shared.lock().unwrap_or_else(|e| e.into_inner());
    match host.call(&request).await {
        Ok(_) => Ok(TypingSent {
            sent: Some(match state {
                State::Active => "active".into(),
                State::Idle => "idle".into(),
            }),
            reason: None,
        }),
        // `sip.send_message`'s refusals read "<to> answered <code> <reason>".
        Err(e) if SendMessage::refusal_code(&e) == Some(415) => {
            lock().sending.refused(to, Instant::now());
            Ok(TypingSent {
                sent: None,
                reason: Some(refused_reason(to)),
            })
        }
        Err(e) => {
            lock().sending.not_sent(to);
            Err(e)
        }
    }
}

fn publish(host: &Host, changes: Vec<Change>) {
    for change in changes {
        host.publish(&PeerTyping {
            peer: change.peer,
            protocol: "sip".into(),
            state: if change.typing {
                Typing::Composing
            } else {
                Typing::Idle
            },
            content_type: change.content_type,
        });
    }
}

/// Once a second: peers whose `active` lapsed, and the user's typing that
/// stopped without a word (`idle` to those peers).
async fn tick(host: Host, shared: Arc<Mutex<Shared>>) {
    let mut every = tandem_sdk::tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let now = Instant::now();
        let (lapsed, stale, refresh) = {
            let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
            let refresh = state.sending.refresh_seconds();
            (state.receiving.lapsed(now), state.sending.due(now), refresh)
        };
        publish(&host, lapsed);
        for peer in stale {
            if let Err(e) = send(&host, &shared, &peer, State::Idle, refresh).await {
                host.warn(&format!(
                    "could not tell {peer} the user stopped typing: {e}"
                ));
            }
        }
    }
}

export_plugin!(ComposingPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sdk::serde_json::json;
    use tandem_sdk::testing::MockHost;
    use tandem_sdk::ErrorKind;

    const ACTIVE: &str = "<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state><refresh>60</refresh></isComposing>";

    fn message(content_type: &str, body: &str) -> tandem_sdk::serde_json::Value {
        json!({"from": "sip:bob@example.org", "to": "sip:alice@example.org",
               "content_type": content_type, "body": body})
    }

    #[tokio::test]
    async fn a_peers_typing_is_published_on_changes_only() {
        let host = MockHost::new();
        let plugin = host.start::<ComposingPlugin>(json!({})).await.unwrap();
        let ic = "application/im-iscomposing+xml";
        plugin
            .event("sip.message", message(ic, ACTIVE))
            .await
            .unwrap();
        plugin
            .event("sip.message", message(ic, ACTIVE))
            .await
            .unwrap();
        plugin
            .event("sip.message", message(ic, "<junk"))
            .await
            .unwrap();
        plugin
            .event("sip.message", message("text/plain", "hi"))
            .await
            .unwrap();
        let states: Vec<String> = host
            .published()
            .into_iter()
            .filter(|(topic, _)| topic == "composing.peer")
            .map(|(_, p)| p["state"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(states, ["composing", "idle"]);
        assert!(host
            .logs()
            .iter()
            .any(|(_, line)| line.contains("is-composing from sip:bob@example.org ignored")));
    }

    #[tokio::test]
    async fn the_users_typing_goes_out_once_and_stops_at_a_415() {
        let host = MockHost::new();
        host.respond("sip.send_message", |args| {
            if args["to"] == "sip:old@example.org" {
                Err(SendMessage::refused(
                    "sip:old@example.org",
                    "415 Unsupported Media Type",
                ))
            } else {
                assert_eq!(args["content_type"], "application/im-iscomposing+xml");
                Ok(json!({"code": 200}))
            }
        });
        let plugin = host.start::<ComposingPlugin>(json!({})).await.unwrap();
        let typing = |to: &str, state: &str| json!({"to": to, "state": state});
        let sent = plugin
            .command(
                "composing.user_typing",
                typing("sip:bob@example.org", "composing"),
            )
            .await
            .unwrap();
        assert_eq!(sent["sent"], "active");
        let again = plugin
            .command(
                "composing.user_typing",
                typing("sip:bob@example.org", "composing"),
            )
            .await
            .unwrap();
        assert_eq!(again["sent"], tandem_sdk::serde_json::Value::Null);
        let idle = plugin
            .command(
                "composing.user_typing",
                typing("sip:bob@example.org", "paused"),
            )
            .await
            .unwrap();
        assert_eq!(idle["sent"], "idle");

        for _ in 0..2 {
            let refused = plugin
                .command(
                    "composing.user_typing",
                    typing("sip:old@example.org", "composing"),
                )
                .await
                .unwrap();
            assert!(
                refused["reason"].as_str().unwrap().contains("415"),
                "{refused}"
            );
        }
        let to_old = host
            .calls()
            .iter()
            .filter(|(name, args)| {
                name == "sip.send_message" && args["to"] == "sip:old@example.org"
            })
            .count();
        assert_eq!(to_old, 1, "nothing after the 415");

        let err = plugin
            .command(
                "composing.user_typing",
                typing("bob@example.org", "composing"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArguments);
        let err = plugin
            .command(
                "composing.user_typing",
                typing("sip:bob@example.org", "typing"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArguments);
    }

    #[tokio::test]
    async fn switched_off_it_sends_nothing_and_says_why() {
        let host = MockHost::new();
        let plugin = host
            .start::<ComposingPlugin>(json!({"send_typing": false}))
            .await
            .unwrap();
        let sent = plugin
            .command(
                "composing.user_typing",
                json!({"to": "sip:bob@example.org", "state": "composing"}),
            )
            .await
            .unwrap();
        assert!(sent["reason"].as_str().unwrap().contains("switched off"));
        assert!(host.calls().is_empty());
        assert!(host
            .start::<ComposingPlugin>(json!({"refresh_seconds": 30}))
            .await
            .is_err());
    }

    #[test]
    fn the_docs_list_the_command_table() {
        tandem_sdk::testing::assert_commands_agree::<ComposingPlugin>();
        let doc = include_str!("lib.rs");
        for name in tandem_sdk::manifest_of::<ComposingPlugin>().commands {
            assert!(doc.contains(&format!("//! - `{name}`")), "{name}");
        }
        assert!(doc.contains(&format!("//! - `{}`", PeerTyping::TOPIC)));
    }
}
