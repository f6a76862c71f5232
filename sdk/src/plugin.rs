//! The trait a plugin implements.

use std::future::Future;

use serde::de::DeserializeOwned;

use crate::{BoxError, Command, CommandError, Commands, Event, Host, Manifest, Payload};

/// A Tandem plugin: plain async Rust. The SDK runs it on its own runtime,
/// queues its events, catches its panics and exports it through the stable
/// ABI (with [`export_plugin!`](crate::export_plugin)).
///
/// Events are handled one at a time, in publish order. Commands run
/// concurrently, each in its own task, so a command handler may await other
/// commands (even its own plugin's) without deadlock.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's config section, `[plugins.<config_section>]`. A missing
    /// section is an empty table, so give fields `#[serde(default)]`; add
    /// `#[serde(deny_unknown_fields)]` so typos are reported.
    type Config: DeserializeOwned + Send + 'static;

    /// Describes the plugin; called before anything else, also by
    /// `tandem plugins` without starting it.
    fn manifest() -> Manifest;

    /// What `tandem check` should tell the user about a valid `config` on
    /// this machine that is not an error: something configured that
    /// cannot work here and will be left out (a codec whose library is
    /// not installed, say). One plain sentence each; none by default.
    /// Called without starting the plugin: look, do not open or bind.
    fn check_notes(config: &Self::Config) -> Vec<String> {
        let _ = config;
        Vec::new()
    }

    /// The commands the plugin provides, one row each with its typed
    /// request, reply and [`Handler`](crate::Handler): the SDK declares
    /// them in the manifest and dispatches them, so the two cannot drift.
    /// Built once when the plugin starts.
    fn commands() -> Commands<Self> {
        Commands::new()
    }

    /// Starts the plugin. Long-running work goes in `tokio::spawn`ed tasks.
    fn start(
        host: Host,
        config: Self::Config,
    ) -> impl Future<Output = Result<Self, BoxError>> + Send;

    /// Handles an event the manifest subscribed to. An error is logged; a
    /// panic marks the plugin failed.
    fn on_event(&self, event: Event) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = event;
        async { Ok(()) }
    }

    /// Answers a command that is not in [`Plugin::commands`] (declared by
    /// hand with [`Manifest::command`]). Prefer the table.
    fn on_command(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<Payload, CommandError>> + Send {
        async move { Err(CommandError::unknown_command(command.name())) }
    }

    /// Stops the plugin: unregister, hang up, close connections.
    fn stop(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
