//! The Lua engine inside `tandem run`: its own thread, fed by the bus.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde_json::Value;
use tandem_sdk::abi::SharedEvent;
use tandem_sdk::{CommandError, Payload};
use tokio::sync::mpsc;

use super::watch::{script_files, watch_scripts};
use super::{Backend, Engine, Limits, LogLevel, ScriptError};
use crate::bus::{Bus, CommandProvider, EventSink, Reply, Subscriber};
use crate::config::Config;

/// Events the engine can hold before new ones are dropped (and counted).
const QUEUE: usize = 16 * 1024;
/// Editors write a file in several steps; wait this long before reloading.
/// How long `stop` lets queued events be handled before leaving them.
const STOP_GRACE: Duration = Duration::from_secs(5);
const RELOAD_SETTLE: Duration = Duration::from_millis(100);

enum Input {
    Event(SharedEvent),
    FileChanged(PathBuf),
    /// Switch a rule; the callback learns whether it exists.
    SetEnabled(String, bool, Box<dyn FnOnce(bool) + Send>),
    /// A command a rule provides.
    Command {
        name: String,
        args: String,
        reply: Reply,
    },
    /// Describe the loaded rules.
    Rules(Box<dyn FnOnce(Vec<RuleInfo>) + Send>),
    Shutdown,
}

/// One loaded rule, for `host.status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleInfo {
    pub name: String,
    pub path: PathBuf,
    pub enabled: bool,
}

/// A handle to the running engine, for the host's own commands.
#[derive(Clone)]
pub struct LuaControl(mpsc::Sender<Input>);

/// The engine is not running (or is too busy to take the request).
#[derive(Debug, thiserror::Error)]
#[error("the Lua engine is not taking requests (stopped or its queue is full)")]
pub struct EngineUnavailable;

impl LuaControl {
    /// Switches a rule on or off; `done` learns whether the rule exists.
    pub fn set_enabled(
        &self,
        rule: &str,
        enabled: bool,
        done: impl FnOnce(bool) + Send + 'static,
    ) -> Result<(), EngineUnavailable> {
        self.0
            .try_send(Input::SetEnabled(rule.to_owned(), enabled, Box::new(done)))
            .map_err(|_| EngineUnavailable)
    }

    /// Asks for the list of rules; `done` gets it.
    pub fn rules(
        &self,
        done: impl FnOnce(Vec<RuleInfo>) + Send + 'static,
    ) -> Result<(), EngineUnavailable> {
        self.0
            .try_send(Input::Rules(Box::new(done)))
            .map_err(|_| EngineUnavailable)
    }
}

/// Routes commands that rules provide to the engine thread.
struct RuleCommands(mpsc::Sender<Input>);

impl CommandProvider for RuleCommands {
    fn command(&self, name: &str, args: String, reply: Reply) {
        let input = Input::Command {
            name: name.to_owned(),
            args,
            reply,
        };
        if let Err(e) = self.0.try_send(input) {
            if let Input::Command { reply, .. } = e.into_inner() {
                let error = CommandError::new(
                    tandem_sdk::ErrorKind::Rejected,
                    format!("{name}: the Lua engine is stopped or too busy"),
                );
                reply.send(Err(error));
            }
        }
    }
}

/// Counters readable from other threads.
#[derive(Default)]
pub struct Stats {
    pub handled: AtomicU64,
    pub errors: AtomicU64,
    pub reloads: AtomicU64,
}

/// The running engine.
pub struct LuaService {
    tx: mpsc::Sender<Input>,
    /// Set when `Shutdown` could not be queued (the queue was full): the
    /// engine stops before its next input instead.
    stop_now: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<Stats>,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// What starting the engine found.
pub struct Started {
    pub service: LuaService,
    /// Scripts that loaded: (name, path).
    pub loaded: Vec<(String, PathBuf)>,
    /// Scripts that did not, each with file:line.
    pub failed: Vec<ScriptError>,
}

struct Sink(mpsc::Sender<Input>);

impl EventSink for Sink {
    fn deliver(&self, event: SharedEvent) -> bool {
        self.0.try_send(Input::Event(event)).is_ok()
    }
}

struct BusBackend {
    bus: Bus,
    timeout: Duration,
    subscriber: Arc<Subscriber>,
    commands: Arc<RuleCommands>,
}

/// The bus owner name of a rule's commands.
fn owner(script: &str) -> String {
    format!("lua:{script}")
}

impl Backend for BusBackend {
    fn call(
        &self,
        name: &str,
        args: Value,
    ) -> LocalBoxFuture<'static, Result<Value, CommandError>> {
        let (bus, name, timeout) = (self.bus.clone(), name.to_owned(), self.timeout);
        async move {
            let answer = crate::bus::call(&bus, &name, Payload::from(args), timeout).await?;
            answer.decode::<Value>().map_err(CommandError::from)
        }
        .boxed_local()
    }

    fn emit(&self, source: &str, topic: &str, payload: Value) {
        self.bus.publish(source, topic, payload.to_string());
    }

    fn log(&self, script: &str, level: LogLevel, message: &str) {
        match level {
            LogLevel::Error => tracing::error!(target: "lua", script, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "lua", script, "{message}"),
            LogLevel::Info => tracing::info!(target: "lua", script, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "lua", script, "{message}"),
        }
    }

    fn script_error(&self, script: &str, message: &str) {
        tracing::error!(target: "lua", script, "{message}");
    }

    fn patterns_changed(&self, patterns: Vec<String>) {
        self.subscriber.set_patterns(patterns);
    }

    fn provide(&self, script: &str, command: &str) -> Result<(), String> {
        self.bus
            .provide(
                command,
                &owner(script),
                Arc::new(AtomicBool::new(false)),
                self.commands.clone(),
            )
            .map_err(|e| e.to_string())
    }

    fn withdraw(&self, script: &str, command: &str) {
        self.bus.withdraw(command, &owner(script));
    }
}

impl LuaService {
    /// Starts the engine thread, loads every script of the configured
    /// folders, and subscribes it to the bus.
    pub fn start(bus: &Bus, config: &Config) -> std::io::Result<Started> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let subscriber = bus.subscribe(
            "lua",
            Vec::new(),
            Arc::new(AtomicBool::new(false)),
            Box::new(Sink(tx.clone())),
        );
        let backend = BusBackend {
            bus: bus.clone(),
            timeout: super::command_timeout(config),
            subscriber,
            commands: Arc::new(RuleCommands(tx.clone())),
        };
        let stats = Arc::new(Stats::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let limits = Limits::from(&config.lua);
        let files = script_files(&config.host.script_dirs);
        let config_for_thread = config.clone();
        let thread_stats = stats.clone();
        let thread_tx = tx.clone();
        let stop_now = Arc::new(AtomicBool::new(false));
        let thread_stop_now = stop_now.clone();
        let thread = std::thread::Builder::new()
            .name("tandem-lua".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let engine = Engine::new(Rc::new(backend), limits);
                    let mut loaded = Vec::new();
                    let mut failed = Vec::new();
                    for path in files {
                        let name = super::script_name(&path);
                        let enabled = config_for_thread.script_enabled(&name);
                        let section = config_for_thread.script_section(&name);
                        match engine.load(&path, section, enabled) {
                            Ok(name) => loaded.push((name, path)),
                            Err(e) => failed.push(e),
                        }
                    }
                    let _ = ready_tx.send(Ok((loaded, failed)));
                    run(
                        engine,
                        rx,
                        thread_tx,
                        thread_stop_now,
                        config_for_thread,
                        thread_stats,
                    )
                    .await;
                });
            })?;
        let (loaded, failed) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the Lua engine thread died while starting"))??;

        let watcher = if config.lua.reload {
            let watch_tx = tx.clone();
            match watch_scripts(&config.host.script_dirs, move |path| {
                let _ = watch_tx.try_send(Input::FileChanged(path));
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!("scripts will not reload on change: {e}");
                    None
                }
            }
        } else {
            None
        };
        Ok(Started {
            service: LuaService {
                tx,
                stop_now,
                thread: Some(thread),
                stats,
                _watcher: watcher,
            },
            loaded,
            failed,
        })
    }

    /// A handle for switching rules and listing them.
    pub fn control(&self) -> LuaControl {
        LuaControl(self.tx.clone())
    }

    /// Stops the engine and waits for its thread. Events already queued
    /// are handled first, for up to [`STOP_GRACE`], unless the queue is
    /// full: then they are left.
    pub fn stop(mut self) {
        if self.tx.try_send(Input::Shutdown).is_err() {
            // Full (a flood, or a slow rule), or the engine is gone. Waiting
            // for room would wait on the flood; a `Shutdown` that is simply
            // dropped left the engine serving, and this join waiting, for good.
            self.stop_now.store(true, Ordering::SeqCst);
        }
        if let Some(thread) = self.thread.take() {
            // A `Shutdown` that found room may still sit behind thousands of
            // slow events (the queue had drained a little since the flood):
            // they get a grace period, then are left, as a full queue's are.
            let deadline = std::time::Instant::now() + STOP_GRACE;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            self.stop_now.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }
}

async fn run(
    engine: Engine,
    mut rx: mpsc::Receiver<Input>,
    _tx: mpsc::Sender<Input>,
    stop_now: Arc<AtomicBool>,
    config: Config,
    stats: Arc<Stats>,
) {
    let pending: Rc<RefCell<BTreeSet<PathBuf>>> = Rc::default();
    // Inputs are taken in batches: one wake-up serves many events.
    let mut batch = Vec::with_capacity(256);
    'serve: while rx.recv_many(&mut batch, 256).await > 0 {
        for input in batch.drain(..) {
            if stop_now.load(Ordering::SeqCst) {
                break 'serve;
            }
            match input {
                Input::Event(event) => {
                    engine.dispatch(event.topic(), event.source(), event.payload());
                }
                Input::FileChanged(path) => {
                    let first = pending.borrow().is_empty();
                    pending.borrow_mut().insert(path);
                    if first {
                        let (engine, pending, config, stats) = (
                            engine.clone(),
                            pending.clone(),
                            config.clone(),
                            stats.clone(),
                        );
                        tokio::task::spawn_local(async move {
                            tokio::time::sleep(RELOAD_SETTLE).await;
                            let paths = std::mem::take(&mut *pending.borrow_mut());
                            for path in paths {
                                reload(&engine, &config, &path);
                                stats.reloads.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                }
                Input::SetEnabled(name, enabled, done) => {
                    let found = engine.set_enabled(&name, enabled);
                    if found {
                        tracing::info!(script = %name, enabled, "script switched");
                    }
                    done(found);
                }
                Input::Command { name, args, reply } => engine.serve(
                    &name,
                    &args,
                    Box::new(move |result| reply.send(result.map(|value| value.to_string()))),
                ),
                Input::Rules(done) => done(
                    engine
                        .scripts()
                        .into_iter()
                        .map(|(name, path, enabled)| RuleInfo {
                            name,
                            path,
                            enabled,
                        })
                        .collect(),
                ),
                Input::Shutdown => break 'serve,
            }
        }
        stats.handled.store(engine.handled(), Ordering::Relaxed);
        stats.errors.store(engine.errors(), Ordering::Relaxed);
    }
    for (name, _, _) in engine.scripts() {
        engine.unload(&name);
    }
}

fn reload(engine: &Engine, config: &Config, path: &std::path::Path) {
    let name = super::script_name(path);
    if !path.exists() {
        if engine.unload(&name) {
            tracing::info!(script = %name, "script removed: unloaded");
        }
        return;
    }
    match engine.load(
        path,
        config.script_section(&name),
        config.script_enabled(&name),
    ) {
        Ok(_) => tracing::info!(script = %name, "script reloaded"),
        Err(e) => {
            tracing::error!(script = %name, "reload failed, the previous version keeps running: {e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stop` returns while the queue is full, leaving the backlog.
    #[test]
    fn stop_with_a_full_queue_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        // About a millisecond or more per event: a backlog of 16 Ki events
        // would take minutes to serve.
        std::fs::write(
            dir.path().join("slow.lua"),
            "tandem.on('flood', function() local x = 0 for i = 1, 100000 do x = x + i end end)\n",
        )
        .unwrap();
        let mut config = Config::defaults();
        config.host.script_dirs = vec![dir.path().to_owned()];
        config.lua.reload = false;
        let bus = Bus::new();
        let started = LuaService::start(&bus, &config).unwrap();
        assert_eq!(started.loaded.len(), 1, "{:?}", started.failed);
        for _ in 0..QUEUE + 1000 {
            bus.publish("test", "flood", "{}".to_owned());
        }
        assert!(bus.stats()[0].dropped > 0, "the queue never filled");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            started.service.stop();
            let _ = done_tx.send(());
        });
        assert!(
            done_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
            "stop() still waiting after 20 s"
        );
    }
}
