//! What a plugin says about itself before it is started.

use serde::{Deserialize, Serialize};

/// The manifest. Crosses the ABI as JSON, so fields can be added freely.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Manifest {
    /// Unique id, also the log target and the default config section.
    pub id: String,
    /// The plugin's own version.
    pub version: String,
    /// One line for `tandem plugins`.
    pub description: String,
    /// Free-form capability tags, e.g. `sip.calls`, `xmpp.presence`.
    pub capabilities: Vec<String>,
    /// Commands the plugin provides (the host routes them here).
    pub commands: Vec<String>,
    /// Event topics (or patterns such as `sip.call.*`) the plugin wants.
    pub events: Vec<String>,
    /// The config section handed to the plugin: `[plugins.<config_section>]`.
    pub config_section: String,
    /// Events the plugin can buffer before new ones are dropped (and counted).
    pub queue_capacity: usize,
    /// Worker threads of the plugin's own async runtime.
    pub worker_threads: usize,
    /// The SDK version the plugin was built with (filled in by the SDK).
    pub sdk_version: String,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            id: String::new(),
            version: String::new(),
            description: String::new(),
            capabilities: Vec::new(),
            commands: Vec::new(),
            events: Vec::new(),
            config_section: String::new(),
            queue_capacity: 4096,
            worker_threads: 1,
            sdk_version: crate::SDK_VERSION.to_owned(),
        }
    }
}

impl Manifest {
    /// A manifest with the given id and version (use `env!("CARGO_PKG_VERSION")`).
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Self {
        let id = id.into();
        Manifest {
            config_section: id.clone(),
            id,
            version: version.into(),
            ..Manifest::default()
        }
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    pub fn capability(mut self, tag: impl Into<String>) -> Self {
        self.capabilities.push(tag.into());
        self
    }

    /// Declares a provided command.
    pub fn command(mut self, name: impl Into<String>) -> Self {
        self.commands.push(name.into());
        self
    }

    /// Subscribes to a topic or pattern (`sip.call.*`, `*`).
    pub fn event(mut self, topic: impl Into<String>) -> Self {
        self.events.push(topic.into());
        self
    }

    pub fn config_section(mut self, section: impl Into<String>) -> Self {
        self.config_section = section.into();
        self
    }

    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events.max(1);
        self
    }

    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }
}
