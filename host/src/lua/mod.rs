//! The Lua policy engine.
//!
//! One sandboxed Lua state per script, all driven by one thread. Every
//! handler runs as a coroutine: `tandem.call` yields to the engine, which runs
//! the command asynchronously and resumes the coroutine with the answer, so a
//! rule reads top to bottom while the engine keeps serving other events.
//! Handlers start in publish order; one waiting on a command does not hold up
//! the next event.
//!
//! Failures stay local: a syntax error, a runtime error, a spent instruction
//! budget or the memory limit is reported with the script's file and line,
//! and every other handler and script keeps running.

mod convert;
mod failure;
mod patterns;
mod sandbox;
mod script;
pub mod service;
mod start;
mod tape;
pub mod watch;

pub use failure::describe;
use failure::failure_text;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlua::thread::ThreadStatus;
use mlua::{Function, IntoLuaMulti, MultiValue};

use serde_json::{Map, Value};
use tandem_sdk::{topic_matches, CommandError};

pub use script::{script_name, Script, ScriptError};

/// The topic a rule gets, alone, when it is switched on or off.
pub const SWITCHED: &str = "rule.switched";

/// Sandbox limits, from `[lua]` in the config.
#[derive(Debug, Clone)]
pub struct Limits {
    pub instruction_budget: u64,
    pub memory_limit: usize,
    /// Wall-clock time per resumption; `None`: none.
    pub time_limit: Option<std::time::Duration>,
}

impl From<&crate::config::LuaSection> for Limits {
    fn from(section: &crate::config::LuaSection) -> Self {
        Limits {
            instruction_budget: section.instruction_budget,
            memory_limit: (section.memory_limit_mb as usize).saturating_mul(1 << 20),
            time_limit: (section.time_limit_ms > 0)
                .then(|| std::time::Duration::from_millis(section.time_limit_ms)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// What the engine's scripts act on: the real bus, or the recorder of
/// `tandem script test`.
pub trait Backend {
    /// Runs a command.
    fn call(&self, name: &str, args: Value)
        -> LocalBoxFuture<'static, Result<Value, CommandError>>;
    /// Publishes an event.
    fn emit(&self, source: &str, topic: &str, payload: Value);
    /// A script's log line.
    fn log(&self, script: &str, level: LogLevel, message: &str);
    /// A handler or script failed (already formatted with file:line).
    fn script_error(&self, script: &str, message: &str);
    /// The union of all scripts' topic patterns changed.
    fn patterns_changed(&self, _patterns: Vec<String>) {}
    /// `script` provides `command` (`tandem.provide`); an error names who
    /// already does.
    fn provide(&self, _script: &str, _command: &str) -> Result<(), String> {
        Ok(())
    }
    /// `script` no longer provides `command` (unloaded, or a reload dropped it).
    fn withdraw(&self, _script: &str, _command: &str) {}
}

/// Where the answer of a command served by a rule goes.
pub type Answer = Box<dyn FnOnce(Result<Value, CommandError>)>;

pub(crate) struct EngineInner {
    backend: Rc<dyn Backend>,
    limits: Limits,
    scripts: RefCell<BTreeMap<String, Rc<Script>>>,
    /// The scripts in name order, rebuilt on load and unload, so dispatch
    /// iterates without allocating.
    snapshot: RefCell<Rc<[Rc<Script>]>>,
    handled: Cell<u64>,
    errors: Cell<u64>,
    in_flight: Cell<usize>,
}

/// The engine. Lives on one thread, inside a tokio `LocalSet`.
#[derive(Clone)]
pub struct Engine {
    inner: Rc<EngineInner>,
}

enum Step {
    /// The coroutine returned these values.
    Done(MultiValue),
    Call {
        name: String,
        args: Value,
    },
    Failed(String),
}

impl Engine {
    pub fn new(backend: Rc<dyn Backend>, limits: Limits) -> Engine {
        Engine {
            inner: Rc::new(EngineInner {
                backend,
                limits,
                scripts: RefCell::new(BTreeMap::new()),
                snapshot: RefCell::new(Rc::from(Vec::new())),
                handled: Cell::new(0),
                errors: Cell::new(0),
                in_flight: Cell::new(0),
            }),
        }
    }

    /// Loads (or reloads) a script. On failure a running older version stays.
    /// `tandem.state` carries over to the new version.
    ///
    /// `enabled` is the config's word; without one, the rule's own default
    /// holds: a top level that ends with `return { enabled = false }` ships
    /// switched off (an opt-in rule), anything else is on.
    pub fn load(
        &self,
        path: &Path,
        config: Map<String, Value>,
        enabled: Option<bool>,
    ) -> Result<String, ScriptError> {
        let inner = &self.inner;
        let name = script_name(path);
        let previous = inner.scripts.borrow().get(&name).cloned();
        let state = previous.as_ref().and_then(|s| s.state_snapshot());
        let (script, chunk) = Script::create(inner, path, config, state)?;
        script.enabled.set(enabled.unwrap_or(true));
        // Run the top level now; it registers handlers. A top level that
        // waits on a command finishes later, like any handler.
        let thread = script
            .lua
            .create_thread(chunk)
            .map_err(|e| ScriptError::Runtime(describe(&e)))?;
        match EngineInner::step(&script, &thread, ()) {
            Step::Failed(message) => {
                let kept = previous.as_ref().map(|p| p.provided_names());
                inner.withdraw_all(&script, kept.as_ref());
                return Err(ScriptError::Runtime(message));
            }
            Step::Done(values) => {
                if enabled.is_none() {
                    script.enabled.set(default_enabled(values));
                }
            }
            Step::Call {
                name: command,
                args,
            } => {
                EngineInner::continue_call(
                    inner,
                    &script,
                    thread,
                    command,
                    args,
                    format!("{}", path.display()),
                    None,
                );
            }
        }
        if let Some(previous) = previous {
            previous.retire();
            inner.withdraw_all(&previous, Some(&script.provided_names()));
        }
        inner.scripts.borrow_mut().insert(name.clone(), script);
        inner.scripts_changed();
        Ok(name)
    }

    /// Unloads a script (its file was removed).
    pub fn unload(&self, name: &str) -> bool {
        let removed = self.inner.scripts.borrow_mut().remove(name);
        if let Some(script) = &removed {
            script.retire();
            self.inner.withdraw_all(script, None);
            self.inner.scripts_changed();
        }
        removed.is_some()
    }

    /// Switches a script's handlers on or off without unloading it; a
    /// change is told to the script (`rule.switched`).
    pub fn set_enabled(&self, name: &str, enabled: bool) -> bool {
        let Some(script) = self.inner.scripts.borrow().get(name).cloned() else {
            return false;
        };
        if script.enabled.replace(enabled) != enabled && !script.retired.get() {
            EngineInner::switched(&self.inner, &script, enabled);
        }
        true
    }

    /// Runs every matching handler of every enabled script.
    pub fn dispatch(&self, topic: &str, source: &str, payload_json: &str) {
        EngineInner::dispatch(&self.inner, topic, source, payload_json)
    }

    /// Serves a command a script provides (`tandem.provide`): the handler
    /// runs as a coroutine, so it may itself call commands; what it returns
    /// is the answer, `nil, "why"` refuses, an error is reported as internal.
    pub fn serve(&self, command: &str, args_json: &str, answer: Answer) {
        EngineInner::serve(&self.inner, command, args_json, answer)
    }

    /// Names of the loaded scripts, with their paths and whether they are on.
    pub fn scripts(&self) -> Vec<(String, PathBuf, bool)> {
        self.inner
            .scripts
            .borrow()
            .values()
            .map(|s| (s.name.clone(), s.path.clone(), s.enabled.get()))
            .collect()
    }

    /// Events handled so far (each counted once, however many handlers ran).
    pub fn handled(&self) -> u64 {
        self.inner.handled.get()
    }

    /// Handler and script failures so far.
    pub fn errors(&self) -> u64 {
        self.inner.errors.get()
    }

    /// Handlers waiting for a command's answer.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.get()
    }

    /// The topic patterns any script listens to.
    pub fn patterns(&self) -> Vec<String> {
        self.inner.patterns()
    }
}

impl EngineInner {
    fn patterns(&self) -> Vec<String> {
        let mut patterns: Vec<String> = self
            .scripts
            .borrow()
            .values()
            .flat_map(|s| {
                s.handlers
                    .borrow()
                    .iter()
                    .map(|h| h.pattern.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        patterns.sort();
        patterns.dedup();
        patterns
    }

    fn refresh_patterns(&self) {
        self.backend.patterns_changed(self.patterns());
    }

    fn scripts_changed(&self) {
        let snapshot: Vec<Rc<Script>> = self.scripts.borrow().values().cloned().collect();
        *self.snapshot.borrow_mut() = Rc::from(snapshot);
        self.refresh_patterns();
    }

    /// Withdraws what `script` provides, except the names in `keep` (which
    /// its successor provides again).
    fn withdraw_all(&self, script: &Script, keep: Option<&Vec<String>>) {
        for command in script.provided_names() {
            if !keep.is_some_and(|k| k.contains(&command)) {
                self.backend.withdraw(&script.name, &command);
            }
        }
    }

    fn serve(self: &Rc<Self>, command: &str, args_json: &str, answer: Answer) {
        let provider = self
            .scripts
            .borrow()
            .values()
            .find_map(|s| s.provided(command).map(|f| (s.clone(), f)));
        let Some((script, func)) = provider else {
            return answer(Err(CommandError::unknown_command(command)));
        };
        if !script.enabled.get() || script.retired.get() {
            return answer(Err(CommandError::new(
                tandem_sdk::ErrorKind::SwitchedOff,
                format!("rule `{}` is switched off", script.name),
            )));
        }
        let args = match convert::json_to_lua(&script.lua, args_json) {
            Ok(args) => args,
            Err(e) => {
                return answer(Err(CommandError::new(
                    tandem_sdk::ErrorKind::InvalidArguments,
                    format!("{command}: {}", describe(&e)),
                )))
            }
        };
        let label = format!("{} (command {command})", script::function_label(&func));
        Self::start(self, &script, &func, args, || label, Some(answer));
    }

    fn dispatch(self: &Rc<Self>, topic: &str, source: &str, payload_json: &str) {
        self.handled.set(self.handled.get() + 1);
        let scripts = self.snapshot.borrow().clone();
        // Parsed once, when the first handler wants it.
        let mut tape: Option<tape::Tape> = None;
        for script in scripts.iter() {
            if !script.enabled.get() || script.retired.get() {
                continue;
            }
            let handlers = script.handlers.borrow().clone();
            for handler in handlers.iter().filter(|h| topic_matches(&h.pattern, topic)) {
                let parsed = match &tape {
                    Some(parsed) => parsed,
                    None => match tape::Tape::parse(payload_json) {
                        Ok(parsed) => tape.insert(parsed),
                        Err(e) => {
                            tracing::warn!(topic, source, "event not given to the rules: {e}");
                            return;
                        }
                    },
                };
                Self::run_handler(self, script, handler, parsed, topic, source);
            }
        }
    }

    /// Starts one handler of `script` with the event `parsed`. Each handler
    /// gets its own table: one rule cannot change what the next one sees.
    fn run_handler(
        self: &Rc<Self>,
        script: &Rc<Script>,
        handler: &script::Handler,
        parsed: &tape::Tape,
        topic: &str,
        source: &str,
    ) {
        let thread = match script.idle_thread(&handler.func) {
            Ok(thread) => thread,
            Err(e) => return self.fail(script, &format!("{}: {}", handler.label, describe(&e))),
        };
        script.budget.reset();
        let outcome = parsed.start_handler(
            &script.lua,
            &thread,
            &handler.func,
            topic,
            source,
            handler.arity,
        );
        let step = match outcome {
            Ok(start::Outcome::Finished) => Step::Done(MultiValue::new()),
            Ok(start::Outcome::Yielded(values)) => Self::yielded(script, values),
            Ok(start::Outcome::Failed(e)) => Step::Failed(failure_text(script, &thread, &e)),
            Err(e) => Step::Failed(format!("event {topic} not given: {}", describe(&e))),
        };
        let label = || format!("{} (handler for {topic})", handler.label);
        self.after_step(script, thread, step, label, None);
    }

    /// Tells `script` it was switched on or off (`rule.switched {enabled}`,
    /// to its own handlers only, and even when off): a rule that changed
    /// something while on can put it back, and one switched on can catch
    /// up, instead of acting on what it missed meanwhile.
    fn switched(self: &Rc<Self>, script: &Rc<Script>, enabled: bool) {
        let payload = if enabled {
            r#"{"enabled":true}"#
        } else {
            r#"{"enabled":false}"#
        };
        let parsed = tape::Tape::parse(payload).expect("a fixed JSON text");
        let handlers = script.handlers.borrow().clone();
        for handler in handlers
            .iter()
            .filter(|h| topic_matches(&h.pattern, SWITCHED))
        {
            Self::run_handler(self, script, handler, &parsed, SWITCHED, "host");
        }
    }

    /// Runs `func(args)` as a new coroutine of `script`; `answer`, if any,
    /// gets what it returns. `label` names the handler in reports; it is
    /// only built when needed.
    fn start(
        self: &Rc<Self>,
        script: &Rc<Script>,
        func: &Function,
        args: impl IntoLuaMulti,
        label: impl FnOnce() -> String,
        answer: Option<Answer>,
    ) {
        let thread = match script.thread(func) {
            Ok(thread) => thread,
            Err(e) => {
                let message = format!("{}: {}", label(), describe(&e));
                return self.finish_failed(script, message, answer);
            }
        };
        let step = Self::step(script, &thread, args);
        self.after_step(script, thread, step, label, answer);
    }

    /// Acts on one resumption's outcome: done, failed, or waiting on a call.
    fn after_step(
        self: &Rc<Self>,
        script: &Rc<Script>,
        thread: mlua::Thread,
        step: Step,
        label: impl FnOnce() -> String,
        answer: Option<Answer>,
    ) {
        match step {
            Step::Done(values) => {
                if let Some(answer) = answer {
                    answer(returned(&script.lua, values));
                }
                script.recycle(thread);
            }
            Step::Failed(message) => {
                self.finish_failed(script, format!("{}: {message}", label()), answer)
            }
            Step::Call { name, args } => {
                Self::continue_call(self, script, thread, name, args, label(), answer)
            }
        }
    }

    fn finish_failed(&self, script: &Script, message: String, answer: Option<Answer>) {
        self.fail(script, &message);
        if let Some(answer) = answer {
            answer(Err(CommandError::internal(message)));
        }
    }

    /// Resumes a coroutine once, within a fresh instruction budget.
    fn step(script: &Script, thread: &mlua::Thread, args: impl IntoLuaMulti) -> Step {
        script.budget.reset();
        let result = thread.resume::<MultiValue>(args);
        let status = thread.status();
        match result {
            Err(e) => Step::Failed(failure_text(script, thread, &e)),
            Ok(values) if status == ThreadStatus::Finished => Step::Done(values),
            Ok(values) => Self::yielded(script, values),
        }
    }

    /// What a coroutine's yield asks for: a `tandem.call` or nothing valid.
    fn yielded(script: &Script, values: MultiValue) -> Step {
        let mut values = values.into_iter();
        let marker = values.next();
        let is_call =
            matches!(marker, Some(mlua::Value::LightUserData(ud)) if ud == script::CALL_MARKER);
        if !is_call {
            return Step::Failed(
                "the handler yielded outside tandem.call (use coroutine.wrap for your own coroutines)".to_owned(),
            );
        }
        let name = match values.next() {
            Some(mlua::Value::String(s)) => s.to_string_lossy(),
            _ => return Step::Failed("tandem.call without a command name".to_owned()),
        };
        match convert::from_lua(&script.lua, values.next().unwrap_or(mlua::Value::Nil)) {
            Ok(args) => Step::Call { name, args },
            Err(e) => Step::Failed(format!(
                "the arguments of {name} cannot be sent: {}",
                describe(&e)
            )),
        }
    }

    /// Runs a command for a suspended coroutine, then resumes it.
    fn continue_call(
        self: &Rc<Self>,
        script: &Rc<Script>,
        thread: mlua::Thread,
        name: String,
        args: Value,
        label: String,
        answer: Option<Answer>,
    ) {
        self.in_flight.set(self.in_flight.get() + 1);
        let reply = self.backend.call(&name, args);
        let (engine, script) = (self.clone(), script.clone());
        tokio::task::spawn_local(async move {
            let reply = reply.await;
            engine.in_flight.set(engine.in_flight.get() - 1);
            let resumed = match reply {
                Ok(value) => convert::to_lua(&script.lua, &value).map(|v| (true, v)),
                Err(e) => error_table(&script.lua, &e).map(|t| (false, mlua::Value::Table(t))),
            };
            let step = match resumed {
                Ok(args) => Self::step(&script, &thread, args),
                Err(e) => Step::Failed(describe(&e)),
            };
            engine.after_step(&script, thread, step, || label, answer);
        });
    }

    fn fail(&self, script: &Script, message: &str) {
        self.errors.set(self.errors.get() + 1);
        self.backend.script_error(&script.name, message);
    }
}

/// The `enabled` field of the table a rule's top level returns, if any.
fn default_enabled(values: MultiValue) -> bool {
    match values.into_iter().next() {
        Some(mlua::Value::Table(t)) => {
            t.raw_get::<Option<bool>>("enabled").ok().flatten() != Some(false)
        }
        _ => true,
    }
}

/// What a command handler returned, as the command's answer: `nil, "why"`
/// is a refusal, anything else (nil included) the result.
fn returned(lua: &mlua::Lua, values: MultiValue) -> Result<Value, CommandError> {
    let mut values = values.into_iter();
    let first = values.next().unwrap_or(mlua::Value::Nil);
    if first.is_nil() {
        if let Some(why) = values.next().filter(|v| !v.is_nil()) {
            let why = match why {
                mlua::Value::String(s) => s.to_string_lossy(),
                other => format!("{other:?}"),
            };
            return Err(CommandError::new(tandem_sdk::ErrorKind::Rejected, why));
        }
    }
    convert::from_lua(lua, first)
        .map_err(|e| CommandError::internal(format!("the answer cannot be sent: {}", describe(&e))))
}

fn error_table(lua: &mlua::Lua, e: &CommandError) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("kind", e.kind.name())?;
    t.set("message", e.message.clone())?;
    Ok(t)
}

/// How long `tandem.call` waits, from `[host] command_timeout_ms`.
pub fn command_timeout(config: &crate::config::Config) -> Duration {
    Duration::from_millis(config.host.command_timeout_ms.max(1))
}

#[cfg(test)]
mod tests;
