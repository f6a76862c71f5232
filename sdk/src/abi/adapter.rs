//! Turns a [`Plugin`] into the FFI objects the host calls.
//!
//! Every function here that the host can reach runs inside
//! `catch_unwind`: a panic becomes an error value and, where the plugin can
//! no longer be trusted, a `failed` report to the host. Nothing unwinds
//! across `extern "C"`.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString, RVec};
use futures_util::FutureExt;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use super::root::{PluginModule, PluginModuleRef};
use super::types::{
    FfiCommandError, FfiHostBox, FfiPlugin, FfiPluginBox, FfiPlugin_TO, FfiReply, FfiReplyBox,
    FfiReply_TO, SharedEvent,
};
use crate::host::{HostBackend, Level, ReplyFn};
use crate::payload::decode_json;
use crate::{hide_values, Command, CommandError, ErrorKind, Event, Host, Plugin};

/// The root module for plugin type `P`. Called once, by the code that
/// `export_plugin!` generates, when the host loads the library.
pub fn module_for<P: Plugin>() -> PluginModuleRef {
    PluginModule {
        manifest: manifest::<P>,
        check_config: check_config::<P>,
        start: start::<P>,
        check_notes: check_notes::<P>,
    }
    .leak_into_prefix()
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => ROk(value),
        Ok(Err(message)) => RErr(message.into()),
        Err(panic) => RErr(format!("{what} panicked: {}", panic_message(&*panic)).into()),
    }
}

extern "C" fn manifest<P: Plugin>() -> RResult<RString, RString> {
    guarded("manifest", || {
        let manifest = crate::manifest_of::<P>();
        serde_json::to_string(&manifest)
            .map(RString::from)
            .map_err(|e| e.to_string())
    })
}

fn parse_config<P: Plugin>(config: &str) -> Result<P::Config, String> {
    let text = if config.trim().is_empty() {
        "{}"
    } else {
        config
    };
    // A config value may be a secret: the error names the key, not the value.
    decode_json::<P::Config>(text).map_err(|e| match e {
        crate::PayloadError::Decode { path, message, .. } if path == "." => hide_values(&message),
        crate::PayloadError::Decode { path, message, .. } => {
            format!("key `{path}`: {}", hide_values(&message))
        }
        other => hide_values(&other.to_string()),
    })
}

extern "C" fn check_config<P: Plugin>(config: RStr<'_>) -> RResult<(), RString> {
    guarded("check_config", || {
        parse_config::<P>(config.as_str()).map(drop)
    })
}

extern "C" fn check_notes<P: Plugin>(config: RStr<'_>) -> RResult<RVec<RString>, RString> {
    guarded("check_notes", || {
        let config = parse_config::<P>(config.as_str())?;
        Ok(P::check_notes(&config)
            .into_iter()
            .map(RString::from)
            .collect())
    })
}

extern "C" fn start<P: Plugin>(
    host: FfiHostBox,
    config: RStr<'_>,
) -> RResult<FfiPluginBox, RString> {
    guarded("start", || {
        let manifest = P::manifest();
        let config = parse_config::<P>(config.as_str())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(manifest.worker_threads.max(1))
            .thread_name(format!("plugin-{}", manifest.id))
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the plugin runtime: {e}"))?;
        let failed = Arc::new(AtomicBool::new(false));
        let backend: Arc<dyn HostBackend> = Arc::new(FfiBackend {
            host,
            failed: failed.clone(),
        });
        super::log_bridge::install(backend.clone(), super::log_bridge::crate_of::<P>());
        let host = Host::new(backend);

        // Start on the plugin's own runtime and wait here, so the host may
        // call this from any thread, inside its own runtime or not.
        let (tx, rx) = std::sync::mpsc::channel();
        let start_host = host.clone();
        runtime.spawn(async move {
            let result = AssertUnwindSafe(P::start(start_host, config))
                .catch_unwind()
                .await;
            let _ = tx.send(result);
        });
        let plugin = match rx.recv() {
            Ok(Ok(Ok(plugin))) => Arc::new(plugin),
            Ok(Ok(Err(e))) => return Err(e.to_string()),
            Ok(Err(panic)) => return Err(format!("start panicked: {}", panic_message(&*panic))),
            Err(_) => return Err("start was abandoned by the runtime".to_owned()),
        };

        let (events_tx, events_rx) = mpsc::channel(manifest.queue_capacity.max(1));
        runtime.spawn(event_loop(
            plugin.clone(),
            events_rx,
            host.clone(),
            failed.clone(),
        ));
        let adapter = Adapter {
            plugin: ManuallyDrop::new(plugin),
            commands: Arc::new(P::commands()),
            events: events_tx,
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            host,
            failed,
            stopped: AtomicBool::new(false),
        };
        Ok(FfiPlugin_TO::from_value(adapter, TD_Opaque))
    })
}

async fn event_loop<P: Plugin>(
    plugin: Arc<P>,
    mut events: mpsc::Receiver<SharedEvent>,
    host: Host,
    failed: Arc<AtomicBool>,
) {
    // Events are taken in batches: one wake-up serves many events.
    let mut batch = Vec::with_capacity(64);
    while events.recv_many(&mut batch, 64).await > 0 {
        for shared in batch.drain(..) {
            let event = Event::from_shared(shared.clone());
            match AssertUnwindSafe(plugin.on_event(event))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => host.warn(&format!("handling event {}: {e}", shared.topic())),
                Err(panic) => {
                    failed.store(true, Ordering::SeqCst);
                    host.failed(&format!(
                        "panicked handling event {}: {}",
                        shared.topic(),
                        panic_message(&*panic)
                    ));
                    return;
                }
            }
        }
    }
}

/// A started plugin as the host sees it.
struct Adapter<P: Plugin> {
    /// Dropped under `catch_unwind` (see the `Drop` impl).
    plugin: ManuallyDrop<Arc<P>>,
    /// The plugin's command table, built once.
    commands: Arc<crate::Commands<P>>,
    events: mpsc::Sender<SharedEvent>,
    handle: tokio::runtime::Handle,
    runtime: Mutex<Option<Runtime>>,
    host: Host,
    failed: Arc<AtomicBool>,
    stopped: AtomicBool,
}

impl<P: Plugin> Adapter<P> {
    fn unusable(&self) -> bool {
        self.failed.load(Ordering::Relaxed) || self.stopped.load(Ordering::Relaxed)
    }
}

impl<P: Plugin> FfiPlugin for Adapter<P> {
    fn deliver(&self, event: SharedEvent) -> bool {
        !self.unusable() && self.events.try_send(event).is_ok()
    }

    fn command(&self, name: RStr<'_>, args: RString, mut reply: FfiReplyBox) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if self.unusable() {
                return Err(CommandError::new(
                    ErrorKind::PluginFailed,
                    "the plugin has failed or stopped",
                ));
            }
            let plugin = Arc::clone(&self.plugin);
            let commands = Arc::clone(&self.commands);
            let host = self.host.clone();
            let failed = self.failed.clone();
            let command = Command::new(
                name.as_str(),
                crate::Payload::from_trusted(args.into_string()),
            );
            let mut reply = std::mem::replace(&mut reply, closed_reply());
            self.handle.spawn(async move {
                let name = command.name().to_owned();
                let result = AssertUnwindSafe(commands.dispatch(&plugin, command))
                    .catch_unwind()
                    .await;
                let answer = match result {
                    Ok(Ok(payload)) => ROk(RString::from(payload.into_json())),
                    Ok(Err(e)) => RErr(FfiCommandError::from(e)),
                    Err(panic) => {
                        let message = format!(
                            "panicked running command {name}: {}",
                            panic_message(&*panic)
                        );
                        failed.store(true, Ordering::SeqCst);
                        host.failed(&message);
                        RErr(CommandError::new(ErrorKind::PluginFailed, message).into())
                    }
                };
                reply.send(answer);
            });
            Ok(())
        }));
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(panic) => CommandError::internal(panic_message(&*panic)),
        };
        let _ = catch_unwind(AssertUnwindSafe(|| reply.send(RErr(error.into()))));
    }

    fn shutdown(&self, timeout_ms: u64) -> RResult<(), RString> {
        self.stopped.store(true, Ordering::SeqCst);
        let runtime = match self.runtime.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(runtime) = runtime else {
            return ROk(());
        };
        let timeout = Duration::from_millis(timeout_ms);
        let plugin = Arc::clone(&self.plugin);
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let outcome =
                tokio::time::timeout(timeout, AssertUnwindSafe(plugin.stop()).catch_unwind()).await;
            let _ = tx.send(outcome);
        });
        let result = match rx.recv_timeout(timeout + Duration::from_millis(100)) {
            Ok(Ok(Ok(()))) => ROk(()),
            Ok(Ok(Err(panic))) => RErr(format!("stop panicked: {}", panic_message(&*panic)).into()),
            Ok(Err(_)) | Err(_) => {
                RErr(format!("stop did not finish within {timeout_ms} ms").into())
            }
        };
        // Never block on the runtime's threads here: the host may be calling
        // from inside its own runtime.
        runtime.shutdown_background();
        result
    }
}

/// The host drops a plugin through `abi_stable`'s destructor, which aborts
/// the process if anything unwinds out of it: the plugin's own `Drop` may
/// panic, so it runs under `catch_unwind` like every other entry. A runtime
/// that was never shut down is let go in the background, as `shutdown`
/// does (dropping it would block, and panic inside the host's runtime).
impl<P: Plugin> Drop for Adapter<P> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let plugin = unsafe { ManuallyDrop::take(&mut self.plugin) };
        let runtime = match self.runtime.get_mut() {
            Ok(runtime) => runtime.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let _ = catch_unwind(AssertUnwindSafe(move || {
            drop(plugin);
            if let Some(runtime) = runtime {
                runtime.shutdown_background();
            }
        }));
    }
}

/// A reply channel that has already been used.
fn closed_reply() -> FfiReplyBox {
    FfiReply_TO::from_value(ClosureReply(None), TD_Opaque)
}

/// A reply channel backed by a Rust closure (the caller's side).
pub(crate) struct ClosureReply(pub(crate) Option<ReplyFn>);

impl FfiReply for ClosureReply {
    fn send(&mut self, result: RResult<RString, FfiCommandError>) {
        if let Some(reply) = self.0.take() {
            let result = match result {
                ROk(json) => Ok(json.into_string()),
                RErr(e) => Err(CommandError::from(e)),
            };
            let _ = catch_unwind(AssertUnwindSafe(|| reply(result)));
        }
    }
}

impl Drop for ClosureReply {
    fn drop(&mut self) {
        // A provider that drops the request without answering is reported to
        // the caller as such, not left to time out.
        if let Some(reply) = self.0.take() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                reply(Err(CommandError::new(
                    ErrorKind::PluginFailed,
                    "the provider dropped the request without answering",
                )))
            }));
        }
    }
}

/// The real host, reached through the ABI.
struct FfiBackend {
    host: FfiHostBox,
    failed: Arc<AtomicBool>,
}

impl HostBackend for FfiBackend {
    fn publish(&self, topic: &str, payload: String) -> u64 {
        self.host.publish(topic.into(), payload.into())
    }

    fn call(&self, name: &str, args: String, reply: ReplyFn) {
        let reply = FfiReply_TO::from_value(ClosureReply(Some(reply)), TD_Opaque);
        self.host.call(name.into(), args.into(), reply);
    }

    fn log(&self, level: Level, message: &str) {
        self.host.log(level as u8, message.into());
    }

    fn failed(&self, reason: &str) {
        self.failed.store(true, Ordering::SeqCst);
        self.host.failed(reason.into());
    }

    fn log_level(&self) -> Option<Level> {
        match self.host.log_level() {
            0 => None,
            level => Some(Level::from_u8(level)),
        }
    }
}

/// Used by the host to build reply channels and host objects.
#[doc(hidden)]
pub fn reply_from_fn(
    reply: impl FnOnce(Result<String, CommandError>) + Send + 'static,
) -> FfiReplyBox {
    FfiReply_TO::from_value(ClosureReply(Some(Box::new(reply))), TD_Opaque)
}

#[doc(hidden)]
pub fn level_from_u8(level: u8) -> Level {
    Level::from_u8(level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{FfiHost, FfiHost_TO};
    use crate::{BoxError, Manifest};

    struct NoHost;

    impl FfiHost for NoHost {
        fn publish(&self, _topic: RStr<'_>, _payload: RString) -> u64 {
            0
        }
        fn call(&self, _name: RStr<'_>, _args: RString, _reply: FfiReplyBox) {}
        fn log(&self, _level: u8, _message: RStr<'_>) {}
        fn failed(&self, _reason: RStr<'_>) {}
        fn log_level(&self) -> u8 {
            0
        }
    }

    #[derive(serde::Deserialize)]
    struct NoConfig {}

    /// A plugin whose `Drop` panics.
    struct DropBomb;

    impl Drop for DropBomb {
        fn drop(&mut self) {
            panic!("DropBomb dropped");
        }
    }

    impl Plugin for DropBomb {
        type Config = NoConfig;
        fn manifest() -> Manifest {
            Manifest::new("drop-bomb", "0.0.0")
        }
        async fn start(_host: Host, _config: NoConfig) -> Result<Self, BoxError> {
            Ok(DropBomb)
        }
    }

    fn start_bomb() -> FfiPluginBox {
        let module = module_for::<DropBomb>();
        let host = FfiHost_TO::from_value(NoHost, TD_Opaque);
        match (module.start())(host, "".into()) {
            ROk(plugin) => plugin,
            RErr(e) => panic!("did not start: {e}"),
        }
    }

    /// Without the guard the panic reached abi_stable's destructor, which
    /// aborts: the whole test binary (the whole host) died.
    #[test]
    fn a_plugin_that_panics_when_dropped_does_not_abort_the_host() {
        let plugin = start_bomb();
        assert!(plugin.shutdown(1_000).is_ok());
        drop(plugin);
        // Never shut down, and dropped inside a runtime: still no abort.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let plugin = start_bomb();
        runtime.block_on(async move { drop(plugin) });
    }
}
