//! # tandem-plugin-sip
//!
//! Tandem's SIP voice: calls by SIP URI or IP (no registrar needed), or
//! through a registrar with digest auth; G.711 audio over RTP with RFC 4733
//! DTMF; MESSAGE and OPTIONS. Signalling is rsipstack's (transactions,
//! dialogs, auth, transports); everything after the SDP is [`media`].
//!
//! Commands: `sip.call`, `sip.answer`, `sip.reject`, `sip.hangup`,
//! `sip.hold`, `sip.dtmf`, `sip.send_message`, `sip.status`.
//! Events: `sip.registration`, `sip.call.incoming`, `sip.call.ringing`,
//! `sip.call.answered`, `sip.call.held`, `sip.call.ended`, `sip.dtmf`,
//! `sip.message`.

mod accept;
mod agent;
mod call_control;
mod calls;
mod config;
mod dialog_events;
mod digest_wire;
mod incoming;
pub mod media;
mod message;
mod origin;
mod outgoing;
mod password_scope;
mod refusals;
mod registration;
pub mod screen;
mod screened_tls;
mod streams;
mod tls;
mod unreachable;
mod uri;

use std::sync::{Arc, Mutex};

use tandem_sdk::commands::sip::{Answer, Call, Hangup, Hold, Reject, SendDtmf, SendMessage};
use tandem_sdk::{
    export_plugin, BoxError, Command, CommandError, CommandType, Event, Host, Manifest, Payload,
    Plugin,
};

use agent::Agent;
pub use config::Config;
use registration::RegistrationTask;

pub struct SipPlugin {
    agent: Arc<Agent>,
    registration: Mutex<Option<RegistrationTask>>,
}

impl Plugin for SipPlugin {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("sip", env!("CARGO_PKG_VERSION"))
            .description("SIP voice: calls with G.711 audio, DTMF, MESSAGE")
            .capability("sip.voice")
            .capability("sip.message")
            .command(Call::NAME)
            .command(Answer::NAME)
            .command(Reject::NAME)
            .command(Hangup::NAME)
            .command(Hold::NAME)
            .command(SendDtmf::NAME)
            .command(SendMessage::NAME)
            .command("sip.status")
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        config.validate()?;
        let (agent, incoming, states) = Agent::start(host.clone(), config).await?;
        tandem_sdk::tokio::spawn(incoming::serve(agent.clone(), incoming));
        tandem_sdk::tokio::spawn(dialog_events::serve(agent.clone(), states));
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

    async fn on_command(&self, command: Command) -> Result<Payload, CommandError> {
        let agent = &self.agent;
        match command.name() {
            Call::NAME => {
                let call: Call = command.decode()?;
                let reply = agent.place_call(&call.to, call.from.as_deref()).await?;
                Ok(Payload::encode(&reply)?)
            }
            Answer::NAME => {
                let answer: Answer = command.decode()?;
                Ok(Payload::encode(
                    &agent.answer(answer.call.as_deref()).await?,
                )?)
            }
            Reject::NAME => {
                let reject: Reject = command.decode()?;
                let reply = agent.reject(reject.call.as_deref(), reject.code)?;
                Ok(Payload::encode(&reply)?)
            }
            Hangup::NAME => {
                let hangup: Hangup = command.decode()?;
                Ok(Payload::encode(
                    &agent.hangup(hangup.call.as_deref()).await?,
                )?)
            }
            Hold::NAME => {
                let hold: Hold = command.decode()?;
                let reply = agent.hold(hold.call.as_deref(), hold.hold).await?;
                Ok(Payload::encode(&reply)?)
            }
            SendDtmf::NAME => {
                let dtmf: SendDtmf = command.decode()?;
                Ok(Payload::encode(
                    &agent.dtmf(dtmf.call.as_deref(), &dtmf.digits)?,
                )?)
            }
            SendMessage::NAME => {
                let message: SendMessage = command.decode()?;
                Ok(Payload::encode(&agent.send_message(&message).await?)?)
            }
            "sip.status" => Ok(Payload::encode(&agent.status())?),
            other => Err(CommandError::unknown_command(other)),
        }
    }

    async fn stop(&self) {
        let ids = self.agent.calls().ids();
        for id in ids {
            self.agent.hangup(Some(&id)).await.ok();
            self.agent.end_call(&id, "hangup", None).await;
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

export_plugin!(SipPlugin);
