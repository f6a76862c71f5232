//! A mock host for plugin unit tests: run your plugin in-process, send it
//! events and commands, and check what it published and called.
//!
//! ```no_run
//! # use tandem_sdk::testing::MockHost;
//! # async fn demo<P: tandem_sdk::Plugin>() {
//! let host = MockHost::new();
//! host.respond("xmpp.presence", |_| Ok(serde_json::json!({"show": "chat"})));
//! let plugin = host.start::<P>(serde_json::json!({})).await.unwrap();
//! plugin.event("sip.call.answered", serde_json::json!({"call": "c1"})).await.unwrap();
//! assert_eq!(host.calls()[0].0, "xmpp.presence");
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::host::{HostBackend, Level, ReplyFn};
use crate::{BoxError, Command, CommandError, Event, Host, Payload, Plugin, Value};

type Responder = Box<dyn Fn(&Value) -> Result<Value, CommandError> + Send + Sync>;

#[derive(Default)]
struct State {
    published: Vec<(String, Value)>,
    calls: Vec<(String, Value)>,
    logs: Vec<(Level, String)>,
    failures: Vec<String>,
    responders: HashMap<String, Responder>,
}

/// Records everything a plugin does to the host; answers its commands from
/// responders you register (an unanswered command is `unknown_command`).
#[derive(Clone, Default)]
pub struct MockHost {
    state: Arc<Mutex<State>>,
}

impl MockHost {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers calls of `command` with `f`.
    pub fn respond(
        &self,
        command: &str,
        f: impl Fn(&Value) -> Result<Value, CommandError> + Send + Sync + 'static,
    ) {
        self.state()
            .responders
            .insert(command.to_owned(), Box::new(f));
    }

    /// A [`Host`] handle backed by this mock.
    pub fn host(&self) -> Host {
        Host::new(Arc::new(self.clone()))
    }

    /// Starts plugin `P` with a config section given as JSON.
    pub async fn start<P: Plugin>(&self, config: Value) -> Result<TestPlugin<P>, BoxError> {
        let config: P::Config = serde_json::from_value(config)?;
        let plugin = P::start(self.host(), config).await?;
        Ok(TestPlugin {
            plugin,
            commands: P::commands(),
        })
    }

    /// Events published so far: (topic, payload).
    pub fn published(&self) -> Vec<(String, Value)> {
        self.state().published.clone()
    }

    /// Commands called so far: (name, arguments).
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.state().calls.clone()
    }

    /// Log lines written so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state().logs.clone()
    }

    /// Failure reports (the real host would mark the plugin failed).
    pub fn failures(&self) -> Vec<String> {
        self.state().failures.clone()
    }
}

impl HostBackend for MockHost {
    fn publish(&self, topic: &str, payload: String) -> u64 {
        let value = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
        let mut state = self.state();
        state.published.push((topic.to_owned(), value));
        state.published.len() as u64
    }

    fn call(&self, name: &str, args: String, reply: ReplyFn) {
        let value: Value = serde_json::from_str(&args).unwrap_or(Value::Null);
        let answer = {
            let mut state = self.state();
            state.calls.push((name.to_owned(), value.clone()));
            state
                .responders
                .get(name)
                .map(|f| f(&value))
                .unwrap_or_else(|| Err(CommandError::unknown_command(name)))
        };
        reply(answer.map(|v| v.to_string()));
    }

    fn log(&self, level: Level, message: &str) {
        self.state().logs.push((level, message.to_owned()));
    }

    fn failed(&self, reason: &str) {
        self.state().failures.push(reason.to_owned());
    }

    /// Everything: tests see every line the plugin writes.
    fn log_level(&self) -> Option<Level> {
        Some(Level::Trace)
    }
}

/// A plugin started by [`MockHost::start`].
pub struct TestPlugin<P> {
    plugin: P,
    commands: crate::Commands<P>,
}

impl<P: Plugin> TestPlugin<P> {
    /// Hands the plugin an event, as the host would.
    pub async fn event(&self, topic: &str, payload: Value) -> Result<(), BoxError> {
        let event = Event::new(topic, "test", Payload::from(payload));
        self.plugin.on_event(event).await
    }

    /// Runs one of the plugin's commands.
    pub async fn command(&self, name: &str, args: Value) -> Result<Value, CommandError> {
        let command = Command::new(name, Payload::from(args));
        let reply = self.commands.dispatch(&self.plugin, command).await?;
        reply.decode().map_err(CommandError::from)
    }

    /// Stops the plugin.
    pub async fn stop(&self) {
        self.plugin.stop().await
    }

    /// The plugin itself, for white-box assertions.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }
}

/// Checks that `P`'s manifest and its command table agree: every command
/// the manifest declares is in the table (none declared by hand that only a
/// hand-written `on_command` would answer), none twice. Call it from each
/// migrated plugin's tests.
pub fn assert_commands_agree<P: Plugin>() {
    let manifest = crate::command_table::manifest_of::<P>();
    let table = P::commands();
    let names: Vec<&str> = table.names().collect();
    for name in &manifest.commands {
        assert!(
            names.contains(&name.as_str()),
            "`{name}` is declared in the manifest but not in {}'s command table",
            manifest.id
        );
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a command is in the table twice");
    assert_eq!(
        manifest.commands.len(),
        names.len(),
        "a command is declared twice"
    );
}
