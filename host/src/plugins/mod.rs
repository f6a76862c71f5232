//! Plugins: finding, loading, starting and stopping them.
//!
//! Each library is opened on its own (`lib_header_from_path`-style, never
//! `abi_stable`'s per-type cached loader), so every file is loaded, and one
//! bad file never stops the others. Libraries are never unloaded.

mod host_api;
mod loader;

pub use loader::{
    default_dirs, discover, library_files, load, Discovery, LoadError, LoadFailure, PluginLibrary,
};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use abi_stable::std_types::{RErr, ROk};
use tandem_sdk::abi::{reply_from_fn, FfiPluginBox, SharedEvent};

use crate::bus::{Bus, CommandProvider, EventSink, Reply};

/// A started plugin.
pub struct RunningPlugin {
    pub id: String,
    ffi: Arc<FfiPluginBox>,
    failed: Arc<AtomicBool>,
}

/// Why a plugin did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("plugin `{id}` ({file}) did not start: {message}")]
    Start {
        id: String,
        file: String,
        message: String,
    },
    #[error("plugin `{id}` ({file}): {source}")]
    Command {
        id: String,
        file: String,
        #[source]
        source: crate::bus::DuplicateCommand,
    },
}

impl PluginLibrary {
    /// Starts the plugin with its config section (JSON) and connects it to
    /// the bus: its commands are routed to it, its subscriptions fed.
    pub fn start(&self, bus: &Bus, config_json: &str) -> Result<RunningPlugin, StartError> {
        let id = self.manifest.id.clone();
        let file = self.path.display().to_string();
        // Claim the commands first, so a conflict is reported before start.
        for command in &self.manifest.commands {
            if let Some(owner) = bus.provider_of(command) {
                return Err(StartError::Command {
                    id,
                    file,
                    source: crate::bus::DuplicateCommand {
                        command: command.clone(),
                        owner,
                    },
                });
            }
        }
        let failed = Arc::new(AtomicBool::new(false));
        let api = host_api::for_plugin(&id, bus, failed.clone());
        let ffi = match (self.module.start())(api, config_json.into()) {
            ROk(ffi) => Arc::new(ffi),
            RErr(message) => {
                return Err(StartError::Start {
                    id,
                    file,
                    message: message.into_string(),
                })
            }
        };
        for command in &self.manifest.commands {
            bus.provide(
                command,
                &id,
                failed.clone(),
                Arc::new(PluginProvider(ffi.clone())),
            )
            .map_err(|source| StartError::Command {
                id: id.clone(),
                file: file.clone(),
                source,
            })?;
        }
        if !self.manifest.events.is_empty() {
            bus.subscribe(
                &id,
                self.manifest.events.clone(),
                failed.clone(),
                Box::new(PluginSink(ffi.clone())),
            );
        }
        Ok(RunningPlugin { id, ffi, failed })
    }

    /// What the plugin says of a valid config section on this machine
    /// (`tandem check`'s notes); none from a plugin built before the SDK
    /// had them, or whose notes failed.
    pub fn check_notes(&self, config_json: &str) -> Vec<String> {
        let Some(notes) = self.module.check_notes() else {
            return Vec::new();
        };
        match notes(config_json.into()) {
            ROk(notes) => notes.into_iter().map(|n| n.into_string()).collect(),
            RErr(_) => Vec::new(),
        }
    }

    /// Validates a config section without starting the plugin.
    pub fn check_config(&self, config_json: &str) -> Result<(), String> {
        match (self.module.check_config())(config_json.into()) {
            ROk(()) => Ok(()),
            RErr(message) => Err(message.into_string()),
        }
    }
}

impl RunningPlugin {
    /// The flag that says the plugin failed (or was stopped), for status
    /// reports that outlive this borrow.
    pub fn failed_flag(&self) -> Arc<AtomicBool> {
        self.failed.clone()
    }

    /// Whether the plugin panicked and was cut off.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Stops the plugin, waiting at most `timeout`.
    pub fn stop(&self, timeout: Duration) -> Result<(), String> {
        self.failed.store(true, Ordering::SeqCst); // no more events or commands
        match self.ffi.shutdown(timeout.as_millis() as u64) {
            ROk(()) => Ok(()),
            RErr(e) => Err(e.into_string()),
        }
    }
}

struct PluginSink(Arc<FfiPluginBox>);

impl EventSink for PluginSink {
    fn deliver(&self, event: SharedEvent) -> bool {
        self.0.deliver(event)
    }
}

struct PluginProvider(Arc<FfiPluginBox>);

impl CommandProvider for PluginProvider {
    fn command(&self, name: &str, args: String, reply: Reply) {
        // A plugin's call to a plugin: its reply box goes through unwrapped.
        let reply = match reply.take::<host_api::FfiChannel>() {
            Ok(host_api::FfiChannel(ffi)) => ffi,
            Err(reply) => reply_from_fn(move |answer| reply.send(answer)),
        };
        self.0.command(name.into(), args.into(), reply)
    }
}
