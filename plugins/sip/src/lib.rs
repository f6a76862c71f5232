//! # tandem-plugin-sip
//!
//! Tandem's SIP voice: calls by SIP URI or IP (no registrar needed), or
//! through a registrar with digest auth; G.711 audio over RTP with RFC 4733
//! DTMF; MESSAGE and OPTIONS. Signalling is rsipstack's (transactions,
//! dialogs, auth, transports); everything after the SDP is [`media`].
//!
//! Commands: `sip.call`, `sip.answer`, `sip.reject`, `sip.hangup`,
//! `sip.hold`, `sip.dtmf`, `sip.send_message`, `sip.status`, `sip.calls`,
//! `sip.set_impp`, `sip.session.answer`, `sip.session.reject`,
//! `sip.session.offer`, `sip.session.end`.
//!
//! Events: `sip.registration`, `sip.call.incoming`, `sip.call.ringing`,
//! `sip.call.answered`, `sip.call.held`, `sip.call.ended`, `sip.dtmf`,
//! `sip.message`, `sip.call.info`, `sip.call.notify`,
//! `sip.session.answered`, `sip.session.ended`.
//!
//! A SIP session that is not a call (an INVITE whose only live stream is
//! not audio: an MSRP file offer) is offered with `sip.take_session` to
//! the plugin that owns its stream, which provides that command; its SDP
//! is carried as text both ways (decision 0066).
//!
//! (Both lists are checked against the manifest and the events the code
//! publishes by this crate's `docs_list_every_command_and_event` test.)
//!
//! ## Layers
//!
//! Each folder depends only on those below it (`layers.rs` checks it):
//!
//! - [`transport`]: everything before rsipstack parses: the UDP, TCP and TLS
//!   doors, the screen, framing, the connection cap, ICMP reports.
//! - `guard/`: who may do what: `accept_from`, origins, the password's
//!   scope, digest challenges on the wire, refusals.
//! - `ua/`: the user agent over rsipstack's dialog layer: the agent, calls
//!   and their control, incoming and outgoing requests, registration,
//!   MESSAGE, what a call's dialog carries.
//! - [`media`]: RTP, RTCP, codecs, DTMF, sound devices, after the SDP.
//!
//! `config.rs` and `uri.rs` are leaves any layer uses; log throttling and
//! back-off come from the SDK's `util`, shared with every plugin.

mod config;
mod guard;
#[cfg(test)]
mod layers;
pub mod media;
pub mod transport;
mod ua;
mod uri;

use std::sync::{Arc, Mutex};

use tandem_sdk::commands::sip::{
    Answer, Call, CallList, CallRef, GetCalls, GetStatus, Hangup, Hold, MessageSent, Reject,
    SendDtmf, SendMessage, SetImpp, Status,
};
use tandem_sdk::commands::sip_session::{self as session, SessionRef};
use tandem_sdk::{
    export_plugin, BoxError, CommandError, Commands, Event, Handler, Host, Manifest, Plugin,
};

pub use config::Config;
use ua::agent::Agent;
use ua::registration::RegistrationTask;

/// Every topic the plugin publishes, in the order the crate doc lists them.
#[cfg(test)]
const PUBLISHED: [&str; 12] = {
    use tandem_sdk::events::sip::*;
    use tandem_sdk::events::sip_session::{Answered, Ended};
    use tandem_sdk::EventType;
    [
        Registration::TOPIC,
        CallIncoming::TOPIC,
        CallRinging::TOPIC,
        CallAnswered::TOPIC,
        CallHeld::TOPIC,
        CallEnded::TOPIC,
        Dtmf::TOPIC,
        Message::TOPIC,
        Info::TOPIC,
        Notify::TOPIC,
        Answered::TOPIC,
        Ended::TOPIC,
    ]
};

pub struct SipPlugin {
    agent: Arc<Agent>,
    registration: Mutex<Option<RegistrationTask>>,
}

impl Plugin for SipPlugin {
    type Config = Config;

    /// Codecs in `codecs` that cannot run here (Opus without libopus),
    /// DTLS-SRTP without OpenSSL 3, and, for a dual-stack `listen`, every
    /// address it will listen on.
    fn check_notes(config: &Config) -> Vec<String> {
        let mut notes = media::codec::left_out(&config.codecs);
        notes.extend(media::srtp::dtls::left_out(config.media_encryption));
        notes.extend(config.listening_note());
        notes
    }

    fn manifest() -> Manifest {
        Manifest::new("sip", env!("CARGO_PKG_VERSION"))
            .description("SIP voice: calls with G.722, Opus or G.711 audio, SRTP, DTMF, MESSAGE")
            .capability("sip.voice")
            .capability("sip.message")
    }

    /// The plugin's commands: this one table fills the manifest and
    /// dispatches (each row's `Handler` is below, a thin call into the agent).
    fn commands() -> Commands<Self> {
        Commands::new()
            .command::<Call>("Calls a SIP URI (or a contact's JID through their reach)")
            .command::<Answer>("Answers the ringing call")
            .command::<Reject>("Rejects the ringing call with a status code")
            .command::<Hangup>("Hangs up a call")
            .command::<Hold>("Puts a call on hold or takes it off")
            .command::<SendDtmf>("Sends DTMF digits in a call (RFC 4733)")
            .command::<SendMessage>("Sends a SIP MESSAGE (RFC 3428)")
            .command::<GetStatus>("Listening addresses, registration and calls")
            .command::<GetCalls>("The calls now and the last 20 that ended")
            .command::<SetImpp>("Sets the XMPP address announced in Call-Info (REQ-2)")
            .command::<session::Answer>("Accepts an offered session (not a call) with an SDP")
            .command::<session::Reject>("Refuses an offered session with a status code")
            .command::<session::Offer>("Offers a session (not a call) with an SDP")
            .command::<session::End>("Ends a session: CANCEL, BYE or 487")
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        config.validate()?;
        let (agent, incoming, states, unreachable) = Agent::start(host.clone(), config).await?;
        tandem_sdk::tokio::spawn(ua::incoming::serve(agent.clone(), incoming));
        tandem_sdk::tokio::spawn(ua::dialog_events::serve(agent.clone(), states));
        tandem_sdk::tokio::spawn(ua::unreachable::serve(Arc::downgrade(&agent), unreachable));
        let registration = agent.start_registration();
        host.info(&format!(
            "listening on {} as {}",
            agent.listening.join(", "),
            agent.identity
        ));
        Ok(SipPlugin {
            agent,
            registration: Mutex::new(registration),
        })
    }

    async fn on_event(&self, _event: Event) -> Result<(), BoxError> {
        Ok(())
    }

    async fn stop(&self) {
        self.agent.end_sessions().await;
        let ids = self.agent.calls().ids();
        for id in ids {
            self.agent.hangup(Some(&id)).await.ok();
            self.agent.end_call(&id, "hangup", None).await;
        }
        if let Err(e) = self.agent.history.save() {
            log::warn!("{e}");
        }
        let registration = self
            .registration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(registration) = registration {
            registration.shutdown().await;
        }
        self.agent.cancel.cancel();
    }
}

impl Handler<Call> for SipPlugin {
    async fn handle(&self, call: Call) -> Result<CallRef, CommandError> {
        self.agent
            .place_call(&call.to, call.from.as_deref(), call.invite.as_deref())
            .await
    }
}

impl Handler<Answer> for SipPlugin {
    async fn handle(&self, answer: Answer) -> Result<CallRef, CommandError> {
        self.agent.answer(answer.call.as_deref()).await
    }
}

impl Handler<Reject> for SipPlugin {
    async fn handle(&self, reject: Reject) -> Result<CallRef, CommandError> {
        self.agent.reject(reject.call.as_deref(), reject.code)
    }
}

impl Handler<Hangup> for SipPlugin {
    async fn handle(&self, hangup: Hangup) -> Result<CallRef, CommandError> {
        self.agent.hangup(hangup.call.as_deref()).await
    }
}

impl Handler<Hold> for SipPlugin {
    async fn handle(&self, hold: Hold) -> Result<CallRef, CommandError> {
        self.agent.hold(hold.call.as_deref(), hold.hold).await
    }
}

impl Handler<SendDtmf> for SipPlugin {
    async fn handle(&self, dtmf: SendDtmf) -> Result<CallRef, CommandError> {
        self.agent.dtmf(dtmf.call.as_deref(), &dtmf.digits)
    }
}

impl Handler<SendMessage> for SipPlugin {
    async fn handle(&self, message: SendMessage) -> Result<MessageSent, CommandError> {
        self.agent.send_message(&message).await
    }
}

impl Handler<SetImpp> for SipPlugin {
    async fn handle(
        &self,
        SetImpp { address }: SetImpp,
    ) -> Result<serde_json::Value, CommandError> {
        if let Some(address) = &address {
            if !config::is_xmpp_address(address) {
                return Err(CommandError::invalid_arguments(format!(
                    "`{address}` is not an XMPP address such as xmpp:alice@example.org"
                )));
            }
        }
        self.agent.set_impp(address);
        Ok(serde_json::json!({}))
    }
}

impl Handler<session::Answer> for SipPlugin {
    async fn handle(&self, answer: session::Answer) -> Result<SessionRef, CommandError> {
        self.agent.answer_session(&answer.session, &answer.sdp)
    }
}

impl Handler<session::Reject> for SipPlugin {
    async fn handle(&self, reject: session::Reject) -> Result<SessionRef, CommandError> {
        self.agent.reject_session(&reject.session, reject.code)
    }
}

impl Handler<session::Offer> for SipPlugin {
    async fn handle(&self, offer: session::Offer) -> Result<SessionRef, CommandError> {
        if offer.in_call {
            if let Some(call) = self.agent.call_with(&offer.to) {
                return self.agent.offer_in_call(&call, &offer.sdp);
            }
        }
        self.agent.offer_session(&offer.to, &offer.sdp).await
    }
}

impl Handler<session::End> for SipPlugin {
    async fn handle(&self, end: session::End) -> Result<SessionRef, CommandError> {
        self.agent.end_session_now(&end.session).await
    }
}

impl Handler<GetStatus> for SipPlugin {
    async fn handle(&self, _: GetStatus) -> Result<Status, CommandError> {
        Ok(self.agent.status())
    }
}

impl Handler<GetCalls> for SipPlugin {
    async fn handle(&self, _: GetCalls) -> Result<CallList, CommandError> {
        Ok(self.agent.call_list())
    }
}

export_plugin!(SipPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    /// The backquoted names on the crate doc's line starting with `label`
    /// (and the lines that continue it).
    fn doc_list(label: &str) -> Vec<String> {
        let doc: Vec<&str> = include_str!("lib.rs")
            .lines()
            .map_while(|line| line.strip_prefix("//!"))
            .map(str::trim)
            .collect();
        let start = doc
            .iter()
            .position(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} in the crate doc"));
        let text = doc[start..]
            .iter()
            .take_while(|line| !line.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// The `tandem_sdk::events::sip` types the code names: every one must
    /// be in [`PUBLISHED`] (payload parts such as `MediaStats` aside).
    fn event_types_in_the_code() -> Vec<String> {
        let mut found = Vec::new();
        let mut pending = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for import in text.split("events::sip::").skip(1) {
                    let names = match import.strip_prefix('{') {
                        Some(list) => list.split('}').next().unwrap_or_default(),
                        None => import
                            .split([';', ',', ' ', '\n'])
                            .next()
                            .unwrap_or_default(),
                    };
                    for name in names.split(',') {
                        let name = name.split(" as ").next().unwrap_or_default().trim();
                        let name = name.split("::").next().unwrap_or_default();
                        if name.starts_with(char::is_uppercase) {
                            found.push(name.to_owned());
                        }
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn docs_list_every_command_and_event() {
        tandem_sdk::testing::assert_commands_agree::<SipPlugin>();
        let commands = tandem_sdk::manifest_of::<SipPlugin>().commands;
        assert_eq!(doc_list("Commands:"), commands, "the crate doc's commands");
        assert_eq!(doc_list("Events:"), PUBLISHED, "the crate doc's events");
        let readme = include_str!("../README.md");
        for name in commands.iter().map(String::as_str).chain(PUBLISHED) {
            assert!(
                readme.contains(&format!("`{name}")),
                "README.md leaves out {name}"
            );
        }
        // A payload type the code names but the list lacks is a new event.
        use tandem_sdk::EventType;
        for name in event_types_in_the_code() {
            let topic = match name.as_str() {
                "Registration" => tandem_sdk::events::sip::Registration::TOPIC,
                "CallIncoming" => tandem_sdk::events::sip::CallIncoming::TOPIC,
                "CallRinging" => tandem_sdk::events::sip::CallRinging::TOPIC,
                "CallAnswered" => tandem_sdk::events::sip::CallAnswered::TOPIC,
                "CallHeld" => tandem_sdk::events::sip::CallHeld::TOPIC,
                "CallEnded" => tandem_sdk::events::sip::CallEnded::TOPIC,
                "Dtmf" => tandem_sdk::events::sip::Dtmf::TOPIC,
                "Message" => tandem_sdk::events::sip::Message::TOPIC,
                "Info" => tandem_sdk::events::sip::Info::TOPIC,
                "Notify" => tandem_sdk::events::sip::Notify::TOPIC,
                "Direction" | "MediaStats" | "EndReason" => continue,
                other => panic!("the code uses events::sip::{other}: list its topic in PUBLISHED, the crate doc and the README"),
            };
            assert!(PUBLISHED.contains(&topic), "{topic} is not in PUBLISHED");
        }
    }
}
