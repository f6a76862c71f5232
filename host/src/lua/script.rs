//! One loaded script: its Lua state, its handlers, its `tandem` API.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use mlua::{Function, LightUserData, Lua, MultiValue, Table, Thread};
use serde_json::{Map, Value};

use super::sandbox::{self, Budget};
use super::{convert, EngineInner, LogLevel};

/// `coroutine.yield(CALL, name, args)` is how `tandem.call` asks the engine
/// to run a command; scripts cannot forge a light userdata.
pub(super) const CALL_MARKER: LightUserData = LightUserData(0x7a6e_6463 as *mut std::ffi::c_void);

/// Threads kept for reuse per script.
const THREAD_POOL: usize = 32;

/// Handlers one script may register (`tandem.on`), timers it may have
/// pending (`tandem.after`) and commands it may provide (`tandem.provide`).
/// All live on the Rust side, outside the script's memory limit, and each
/// call is one instruction: a loop of `tandem.after` grew the host by some
/// 600 MB in one handler run, one of `tandem.on` (which copies the handler
/// list) held the engine for minutes.
pub(super) const MAX_HANDLERS: usize = 1_000;
pub(super) const MAX_TIMERS: usize = 10_000;
pub(super) const MAX_PROVIDED: usize = 1_000;

/// A handler registered with `tandem.on`.
pub(super) struct Handler {
    pub pattern: String,
    pub func: Function,
    /// How many of (event, topic, source) the function takes: the strings
    /// it does not declare are not built.
    pub arity: u8,
    /// Where the handler function is defined, `file:line`.
    pub label: String,
}

pub struct Script {
    pub(super) name: String,
    pub(super) path: PathBuf,
    pub(super) lua: Lua,
    pub(super) budget: Rc<Budget>,
    pub(super) memory_limit: usize,
    /// Copy-on-write, so dispatch iterates without cloning or borrowing.
    pub(super) handlers: RefCell<Rc<[Rc<Handler>]>>,
    pub(super) enabled: Cell<bool>,
    /// Replaced by a reload or unloaded: start nothing new.
    pub(super) retired: Cell<bool>,
    pub(super) timers: RefCell<HashMap<i64, tokio::task::AbortHandle>>,
    /// Commands this script answers (`tandem.provide`), by name.
    provided: RefCell<BTreeMap<String, Function>>,
    next_timer: Cell<i64>,
    pool: RefCell<Vec<Thread>>,
}

/// Why a script could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{path}: cannot read: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    Runtime(String),
    #[error("{path}: cannot set up the Lua state: {message}")]
    Setup { path: PathBuf, message: String },
}

/// Lua part of the API: `tandem.call` and `tandem.try_call` yield to the engine.
const API_LUA: &str = include_str!("api.lua");

impl Script {
    /// Creates the state, installs the API and compiles the file. The
    /// top-level chunk is returned for the engine to run as a coroutine.
    pub(super) fn create(
        engine: &Rc<EngineInner>,
        path: &Path,
        config: Map<String, Value>,
        state: Option<Value>,
    ) -> Result<(Rc<Script>, Function), ScriptError> {
        let name = script_name(path);
        let source = std::fs::read_to_string(path).map_err(|e| ScriptError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let setup = |e: mlua::Error| ScriptError::Setup {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let limits = &engine.limits;
        let (lua, budget) =
            sandbox::new_state(limits.instruction_budget, limits.memory_limit).map_err(setup)?;
        budget.set_time_limit(limits.time_limit);
        let script = Rc::new(Script {
            name: name.clone(),
            path: path.to_owned(),
            lua,
            budget,
            memory_limit: limits.memory_limit,
            handlers: RefCell::new(Rc::from(Vec::new())),
            enabled: Cell::new(true),
            retired: Cell::new(false),
            timers: RefCell::new(HashMap::new()),
            provided: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(1),
            pool: RefCell::new(Vec::new()),
        });
        install_api(&script, Rc::downgrade(engine), config, state).map_err(setup)?;
        let chunk = script
            .lua
            .load(source)
            .set_name(format!("@{}", path.display()))
            .into_function()
            .map_err(|e| ScriptError::Syntax(super::describe(&e)))?;
        Ok((script, chunk))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A coroutine running `func`, from the pool when one is free.
    pub(super) fn thread(&self, func: &Function) -> mlua::Result<Thread> {
        if let Some(thread) = self.pool.borrow_mut().pop() {
            if thread.reset(func.clone()).is_ok() {
                return Ok(thread);
            }
        }
        self.lua.create_thread(func.clone())
    }

    /// A coroutine to start `func` on: a finished one from the pool (its
    /// stack is empty, no reset needed), or a new one made with `func`.
    pub(super) fn idle_thread(&self, func: &Function) -> mlua::Result<Thread> {
        match self.pool.borrow_mut().pop() {
            Some(thread) => Ok(thread),
            None => self.lua.create_thread(func.clone()),
        }
    }

    /// Gives a finished coroutine back for reuse.
    pub(super) fn recycle(&self, thread: Thread) {
        let mut pool = self.pool.borrow_mut();
        if pool.len() < THREAD_POOL {
            pool.push(thread);
        }
    }

    /// The data in `tandem.state`, carried over to the next version of the
    /// script on reload (functions and userdata are left behind).
    pub(super) fn state_snapshot(&self) -> Option<Value> {
        let tandem: Table = self.lua.globals().get("tandem").ok()?;
        let state: mlua::Value = tandem.get("state").ok()?;
        self.lua
            .from_value_with::<Value>(
                state,
                mlua::serde::de::Options::new().deny_unsupported_types(false),
            )
            .ok()
    }

    /// The handler of a command this script provides.
    pub(super) fn provided(&self, command: &str) -> Option<Function> {
        self.provided.borrow().get(command).cloned()
    }

    /// The commands this script provides.
    pub(super) fn provided_names(&self) -> Vec<String> {
        self.provided.borrow().keys().cloned().collect()
    }

    /// Stops timers and refuses new work.
    pub(super) fn retire(&self) {
        self.retired.set(true);
        for (_, timer) in self.timers.borrow_mut().drain() {
            timer.abort();
        }
    }
}

use mlua::LuaSerdeExt;

/// The script's name: its file name without `.lua`.
pub fn script_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// How many parameters a Lua function declares, at most 3; 3 for `...`
/// (and for functions whose shape Lua cannot tell, such as C functions).
pub(super) fn declared_params(lua: &Lua, func: &Function) -> u8 {
    let mut params = 3u8;
    // SAFETY: `lua_getinfo` with `>u` pops the function pushed as the
    // argument and fills `ar`; no Lua error can be raised by it.
    let _ = unsafe {
        lua.exec_raw::<()>(func, |state| {
            let mut ar = std::mem::MaybeUninit::<mlua::ffi::lua_Debug>::zeroed();
            if mlua::ffi::lua_getinfo(state, c">u".as_ptr(), ar.as_mut_ptr()) != 0 {
                let ar = ar.assume_init();
                if ar.isvararg == 0 {
                    params = ar.nparams.min(3);
                }
            }
        })
    };
    params
}

/// `file:line` of a function's definition.
pub(super) fn function_label(func: &Function) -> String {
    let info = func.info();
    format!(
        "{}:{}",
        info.short_src.unwrap_or_else(|| "?".to_owned()),
        info.line_defined.unwrap_or(0)
    )
}

fn install_api(
    script: &Rc<Script>,
    engine: Weak<EngineInner>,
    config: Map<String, Value>,
    state: Option<Value>,
) -> mlua::Result<()> {
    let lua = &script.lua;
    let tandem = lua.create_table()?;
    let weak_script = Rc::downgrade(script);

    tandem.set("script", script.name.clone())?;
    tandem.set("config", convert::to_lua(lua, &Value::Object(config))?)?;
    let state = match state {
        Some(Value::Object(map)) => convert::to_lua(lua, &Value::Object(map))?,
        _ => mlua::Value::Table(lua.create_table()?),
    };
    tandem.set("state", state)?;

    // tandem.array([t]): `t` (or a new table) sent as a JSON list even when
    // empty; an empty Lua table otherwise goes out as an object, `{}`,
    // which a command taking a list refuses.
    {
        let array = lua.array_metatable();
        tandem.set(
            "array",
            lua.create_function(move |lua, t: Option<mlua::Table>| {
                let t = match t {
                    Some(t) => t,
                    None => lua.create_table()?,
                };
                t.set_metatable(Some(array.clone()))?;
                Ok(t)
            })?,
        )?;
    }

    // tandem.on(pattern, fn)
    {
        let (script, engine) = (weak_script.clone(), engine.clone());
        tandem.set(
            "on",
            lua.create_function(move |_, (pattern, func): (String, Function)| {
                if pattern.is_empty() {
                    return Err(mlua::Error::runtime(
                        "tandem.on: the topic must not be empty",
                    ));
                }
                let Some(script) = script.upgrade() else {
                    return Ok(());
                };
                if script.handlers.borrow().len() >= MAX_HANDLERS {
                    return Err(mlua::Error::runtime(format!(
                        "tandem.on: this rule has {MAX_HANDLERS} handlers already"
                    )));
                }
                let label = function_label(&func);
                let arity = declared_params(&script.lua, &func);
                let mut handlers = script.handlers.borrow().to_vec();
                handlers.push(Rc::new(Handler {
                    pattern,
                    func,
                    arity,
                    label,
                }));
                *script.handlers.borrow_mut() = Rc::from(handlers);
                if let Some(engine) = engine.upgrade() {
                    engine.refresh_patterns();
                }
                Ok(())
            })?,
        )?;
    }

    // tandem.provide(command, fn): answer a command from plugins and rules.
    {
        let (script, engine) = (weak_script.clone(), engine.clone());
        tandem.set(
            "provide",
            lua.create_function(move |_, (command, func): (String, Function)| {
                if command.is_empty() || command.contains(char::is_whitespace) {
                    return Err(mlua::Error::runtime(format!(
                        "tandem.provide: `{command}` is not a command name (non-empty, no spaces)"
                    )));
                }
                if command.starts_with("host.") {
                    return Err(mlua::Error::runtime(format!(
                        "tandem.provide: `{command}`: the `host.` commands belong to the host"
                    )));
                }
                let (Some(script), Some(engine)) = (script.upgrade(), engine.upgrade()) else {
                    return Ok(());
                };
                {
                    let provided = script.provided.borrow();
                    if provided.len() >= MAX_PROVIDED && !provided.contains_key(&command) {
                        return Err(mlua::Error::runtime(format!(
                            "tandem.provide: this rule provides {MAX_PROVIDED} commands already"
                        )));
                    }
                }
                engine
                    .backend
                    .provide(&script.name, &command)
                    .map_err(|why| mlua::Error::runtime(format!("tandem.provide: {why}")))?;
                script.provided.borrow_mut().insert(command, func);
                Ok(())
            })?,
        )?;
    }

    // tandem.emit(topic, payload)
    {
        let (script, engine) = (weak_script.clone(), engine.clone());
        tandem.set(
            "emit",
            lua.create_function(move |lua, (topic, payload): (String, mlua::Value)| {
                let (Some(script), Some(engine)) = (script.upgrade(), engine.upgrade()) else {
                    return Ok(());
                };
                let payload = convert::from_lua(lua, payload).map_err(|e| {
                    mlua::Error::runtime(format!("tandem.emit: the payload cannot be sent: {e}"))
                })?;
                engine
                    .backend
                    .emit(&format!("lua:{}", script.name), &topic, payload);
                Ok(())
            })?,
        )?;
    }

    // tandem.after(seconds, fn) -> id ; tandem.cancel(id)
    {
        let (script, engine) = (weak_script.clone(), engine.clone());
        tandem.set(
            "after",
            lua.create_function(move |_, (seconds, func): (f64, Function)| {
                let Ok(delay) = std::time::Duration::try_from_secs_f64(seconds) else {
                    return Err(mlua::Error::runtime(format!(
                        "tandem.after: seconds must be a number >= 0, not {seconds}"
                    )));
                };
                let (Some(script), Some(engine)) = (script.upgrade(), engine.upgrade()) else {
                    return Ok(0);
                };
                if script.timers.borrow().len() >= MAX_TIMERS {
                    return Err(mlua::Error::runtime(format!(
                        "tandem.after: this rule has {MAX_TIMERS} timers pending already"
                    )));
                }
                let id = script.next_timer.get();
                script.next_timer.set(id + 1);
                let weak = Rc::downgrade(&script);
                let engine = Rc::downgrade(&engine);
                let task = tokio::task::spawn_local(async move {
                    tokio::time::sleep(delay).await;
                    let (Some(script), Some(engine)) = (weak.upgrade(), engine.upgrade()) else {
                        return;
                    };
                    script.timers.borrow_mut().remove(&id);
                    if script.retired.get() || !script.enabled.get() {
                        return;
                    }
                    let label = format!("timer at {}", function_label(&func));
                    EngineInner::start(&engine, &script, &func, (), || label, None);
                });
                script.timers.borrow_mut().insert(id, task.abort_handle());
                Ok(id)
            })?,
        )?;
        let script = weak_script.clone();
        tandem.set(
            "cancel",
            lua.create_function(move |_, id: i64| {
                if let Some(timer) = script
                    .upgrade()
                    .and_then(|s| s.timers.borrow_mut().remove(&id))
                {
                    timer.abort();
                    return Ok(true);
                }
                Ok(false)
            })?,
        )?;
    }

    // tandem.log.* and print
    let log = lua.create_table()?;
    for (name, level) in [
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
    ] {
        let (script, engine) = (weak_script.clone(), engine.clone());
        let f = lua.create_function(move |lua, args: MultiValue| {
            let (Some(script), Some(engine)) = (script.upgrade(), engine.upgrade()) else {
                return Ok(());
            };
            let text = join_args(lua, args)?;
            engine.backend.log(&script.name, level, &text);
            Ok(())
        })?;
        if name == "info" {
            lua.globals().set("print", f.clone())?;
        }
        log.set(name, f)?;
    }
    tandem.set("log", log)?;

    lua.globals().set("tandem", tandem.clone())?;
    lua.load(API_LUA)
        .set_name("=tandem-api")
        .call::<()>((tandem, CALL_MARKER))?;
    Ok(())
}

fn join_args(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    let tostring: Function = lua.globals().get("tostring")?;
    let mut parts = Vec::with_capacity(args.len());
    for arg in args {
        parts.push(tostring.call::<String>(arg)?);
    }
    Ok(parts.join(" "))
}
