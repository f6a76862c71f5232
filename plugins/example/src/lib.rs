//! # The example plugin: copy this crate to start your own.
//!
//! It shows every part of the SDK a plugin normally uses:
//! - a config section deserialised into a plain struct (`[plugins.example]`);
//! - a command it provides (`example.echo`), declared once in its command
//!   table (`Plugin::commands`) with typed request and answer: the SDK
//!   lists it in the manifest and routes it to the `Handler`;
//! - an event it subscribes to (`example.ping`), and a command it *calls*
//!   through the host while handling it (here its own `example.echo`, but it
//!   could be any plugin's or script's);
//! - an event it publishes (`example.pong`), and a background task
//!   (`example.tick` every `tick_seconds`);
//! - logging through the host.
//!
//! Build: `cargo build --release -p tandem-plugin-example`, then put
//! `target/release/libtandem_plugin_example.so` in a plugin folder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tandem_sdk::serde_json::json;
use tandem_sdk::tokio;
use tandem_sdk::{
    export_plugin, BoxError, CommandError, CommandType, Commands, Event, Handler, Host, Manifest,
    Payload, Plugin,
};

/// `[plugins.example]` in tandem.toml. `deny_unknown_fields` turns a typo
/// into an error that `tandem check` reports with the key's name.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Put in front of every echoed text.
    pub prefix: String,
    /// Publish `example.tick` this often; 0 means never.
    pub tick_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: "echo: ".to_owned(),
            tick_seconds: 0,
        }
    }
}

/// Arguments and answer of `example.echo`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Echo {
    pub text: String,
}
/// The name and the answer's type: what `host.call(&Echo {..})` and the
/// command table go by.
impl CommandType for Echo {
    const NAME: &'static str = "example.echo";
    type Reply = Echo;
}

/// Payload of `example.pong`: the echoed text and how long the round trip took.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Pong {
    pub text: String,
    pub round_trip_us: u64,
}

pub struct ExamplePlugin {
    host: Host,
    prefix: String,
    pings: Arc<AtomicU64>,
}

impl Plugin for ExamplePlugin {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("example", env!("CARGO_PKG_VERSION"))
            .description("Template plugin: echoes text, answers pings with pongs")
            .capability("example.echo")
            .event("example.ping")
    }

    /// One row per command: its request type (whose `NAME` is the command
    /// name), a line for people, and the `Handler` impl below. Commands are
    /// declared here only, never with `Manifest::command`.
    fn commands() -> Commands<Self> {
        Commands::new().command::<Echo>("Echoes the text after the configured prefix")
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        let pings = Arc::new(AtomicU64::new(0));
        if config.tick_seconds > 0 {
            // Background work runs on the plugin's own runtime.
            let (host, pings) = (host.clone(), pings.clone());
            let period = Duration::from_secs(config.tick_seconds);
            tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    tokio::time::sleep(period).await;
                    n += 1;
                    let pings = pings.load(Ordering::Relaxed);
                    let payload = Payload::from(json!({ "n": n, "pings": pings }));
                    host.publish_raw("example.tick", payload);
                }
            });
        }
        host.info(&format!("started (prefix {:?})", config.prefix));
        Ok(ExamplePlugin {
            host,
            prefix: config.prefix,
            pings,
        })
    }

    async fn on_event(&self, event: Event) -> Result<(), BoxError> {
        // Only `example.ping` is subscribed, but checking is cheap and clear.
        if event.topic() != "example.ping" {
            return Ok(());
        }
        self.pings.fetch_add(1, Ordering::Relaxed);
        let ping: Echo = event.decode()?;
        let started = Instant::now();
        // A typed call: the name comes from `Echo::NAME`, the answer is
        // decoded into `Echo::Reply`.
        let echo = self.host.call(&ping).await?;
        let pong = Pong {
            text: echo.text,
            round_trip_us: started.elapsed().as_micros() as u64,
        };
        self.host
            .publish_raw("example.pong", Payload::encode(&pong)?);
        Ok(())
    }

    async fn stop(&self) {
        self.host.info("stopping");
    }
}

impl Handler<Echo> for ExamplePlugin {
    async fn handle(&self, Echo { text }: Echo) -> Result<Echo, CommandError> {
        Ok(Echo {
            text: format!("{}{text}", self.prefix),
        })
    }
}

export_plugin!(ExamplePlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sdk::testing::MockHost;

    #[tokio::test]
    async fn echo_uses_the_configured_prefix() {
        let host = MockHost::new();
        let plugin = host
            .start::<ExamplePlugin>(json!({"prefix": "> "}))
            .await
            .unwrap();
        let reply = plugin
            .command("example.echo", json!({"text": "hi"}))
            .await
            .unwrap();
        assert_eq!(reply, json!({"text": "> hi"}));
    }

    #[tokio::test]
    async fn ping_calls_echo_and_publishes_pong() {
        let host = MockHost::new();
        host.respond("example.echo", |args| {
            Ok(json!({"text": format!("mock {}", args["text"].as_str().unwrap())}))
        });
        let plugin = host.start::<ExamplePlugin>(json!({})).await.unwrap();
        plugin
            .event("example.ping", json!({"text": "x"}))
            .await
            .unwrap();
        assert_eq!(host.calls()[0].0, "example.echo");
        let (topic, pong) = &host.published()[0];
        assert_eq!(topic, "example.pong");
        assert_eq!(pong["text"], "mock x");
    }

    #[test]
    fn the_manifest_and_the_command_table_agree() {
        tandem_sdk::testing::assert_commands_agree::<ExamplePlugin>();
        let manifest = tandem_sdk::manifest_of::<ExamplePlugin>();
        assert_eq!(manifest.commands, ["example.echo"]);
    }

    #[tokio::test]
    async fn an_unknown_command_is_answered_unknown_command() {
        let host = MockHost::new();
        let plugin = host.start::<ExamplePlugin>(json!({})).await.unwrap();
        let err = plugin
            .command("example.shout", json!({"text": "hi"}))
            .await
            .unwrap_err();
        assert_eq!(err.kind, tandem_sdk::ErrorKind::UnknownCommand, "{err}");
    }

    #[tokio::test]
    async fn unknown_config_key_is_refused() {
        let host = MockHost::new();
        let err = host
            .start::<ExamplePlugin>(json!({"prefx": "typo"}))
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("prefx"), "{err}");
    }

    #[tokio::test]
    async fn command_error_when_echo_is_missing() {
        let host = MockHost::new();
        let plugin = host.start::<ExamplePlugin>(json!({})).await.unwrap();
        let err = plugin
            .event("example.ping", json!({"text": "x"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("unknown_command"), "{err}");
    }
}
