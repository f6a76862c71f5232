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
const API_LUA: &str = r#"
local tandem, CALL = ...
local yield, yieldable, error, type, setmetatable = coroutine.yield, coroutine.isyieldable, error, type, setmetatable
local pairs, tostring, sort, concat = pairs, tostring, table.sort, table.concat
local floor = math.floor
local err_mt = { __tostring = function(e) return e.kind .. ": " .. e.message end }
-- Waiting for an answer pauses the handler; Lua cannot pause inside a C
-- function (a string.gsub replacement, a table.sort comparator, a
-- metamethod), where it would only say "attempt to yield across a C-call
-- boundary".
local function can_wait(api, name)
  if not yieldable() then
    error(api .. "(" .. tostring(name) .. ") cannot wait for its answer here (inside a string.gsub"
      .. " replacement, a table.sort comparator or a metamethod): call it from the handler itself", 3)
  end
end
function tandem.try_call(name, args)
  if type(name) ~= "string" then error("tandem.try_call: the command name must be a string", 2) end
  can_wait("tandem.try_call", name)
  local ok, result = yield(CALL, name, args)
  if ok then return result end
  return nil, setmetatable(result, err_mt)
end
-- tandem.settings(defaults [, kinds]): this rule's [scripts.<name>] section
-- with `defaults` filled in. A key the rule does not read, or a value of
-- another type than its default, is an error naming the key: a typo in the
-- config must not leave a rule silently doing something else. `kinds`
-- widens a key's accepted types: { priority = "string|number" }.
function tandem.settings(defaults, kinds)
  if type(defaults) ~= "table" then error("tandem.settings: expects a table of defaults", 2) end
  kinds = kinds or {}
  local section = "[scripts." .. tandem.script .. "] "
  local known = {}
  for key in pairs(defaults) do known[#known + 1] = tostring(key) end
  for key in pairs(kinds) do
    if defaults[key] == nil then known[#known + 1] = tostring(key) end
  end
  sort(known)
  local out = {}
  for key, value in pairs(tandem.config) do
    local default = defaults[key]
    if key == "enabled" then
      -- the host's switch, not the rule's
    elseif default == nil and kinds[key] == nil then
      error(section .. "unknown key `" .. tostring(key) .. "` (this rule reads: " .. concat(known, ", ") .. ")", 2)
    else
      local accepted = kinds[key] or type(default)
      if not ("|" .. accepted .. "|"):find("|" .. type(value) .. "|", 1, true) then
        error(section .. "`" .. key .. "` must be a " .. accepted:gsub("|", " or ") .. ", not a " .. type(value), 2)
      end
      out[key] = value
    end
  end
  for key, default in pairs(defaults) do
    if out[key] == nil then out[key] = default end
  end
  return out
end
function tandem.call(name, args)
  if type(name) ~= "string" then error("tandem.call: the command name must be a string", 2) end
  can_wait("tandem.call", name)
  local ok, result = yield(CALL, name, args)
  if ok then return result end
  error(name .. ": " .. result.kind .. ": " .. result.message, 2)
end
-- tandem.adhoc(commands): serves these ad-hoc commands (XEP-0050), each
-- {node, name, handler, fields?} as xmpp.register_adhoc takes it, once
-- Tandem is ready and again when this rule is reloaded (a reload sees no
-- host.ready). One that cannot be served is logged, not fatal. One with
-- `plugin` (a plugin's id) is served only when that plugin runs (in
-- host.status, not failed): a client lists no command that cannot work.
function tandem.adhoc(commands)
  local function running()
    local ids = {}
    local status = tandem.try_call("host.status", {})
    for _, p in ipairs(status and type(status.plugins) == "table" and status.plugins or {}) do
      if p.failed ~= true then ids[p.id] = true end
    end
    return ids
  end
  local function register()
    local plugins
    for _, command in ipairs(commands) do
      local args, needs = {}, nil
      for k, v in pairs(command) do
        if k == "plugin" then needs = v else args[k] = v end
      end
      if needs then plugins = plugins or running() end
      if not needs or plugins[needs] then
        local ok, err = tandem.try_call("xmpp.register_adhoc", args)
        if not ok then
          tandem.log.warn("ad-hoc command " .. tostring(command.node) .. " not served: " .. tostring(err.message or err))
        end
      end
    end
    tandem.state.registered = true
  end
  tandem.on("host.ready", register)
  if tandem.state.registered then tandem.after(0, register) end
end
-- tandem.trim(s): `s` without leading and trailing white space.
function tandem.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end
-- tandem.party(uri, display_name): a SIP party for people, "Bob
-- <sip:bob@example.org>", or the URI alone without a display name.
function tandem.party(uri, display_name)
  if display_name and display_name ~= "" then return display_name .. " <" .. uri .. ">" end
  return uri
end
-- tandem.identify(ev, uri, display_name): who a SIP event's peer is among
-- the user's roster contacts (xmpp.who_is), for people. Sets ev.verified,
-- and ev.peer_jid and ev.contact_name only when verified (exactly one
-- contact publishes `uri` and ev.vouched: it came through the user's SIP
-- service); ev.claimed_jid when the peer only claims to be someone (its
-- Call-Info, ev.peer_impp, or an address it gave unvouched). Returns
-- "Bob (bob@example.org)" (the JID alone without a roster name) when
-- verified, else the party as
-- tandem.party writes it, with ", who claims to be bob@example.org
-- (unverified)" after a claim.
function tandem.identify(ev, uri, display_name)
  local claim = type(ev.peer_impp) == "string" and ev.peer_impp or nil
  local found = tandem.try_call("xmpp.who_is", { uri = uri, vouched = ev.vouched == true, claimed = claim }) or {}
  ev.verified = found.verified == true and type(found.jid) == "string"
  if ev.verified then
    ev.peer_jid, ev.contact_name = found.jid, found.name
    if not found.name then return found.jid end
    return found.name .. " (" .. found.jid .. ")"
  end
  ev.claimed_jid = found.claimed
  local text = tandem.party(uri, display_name)
  if found.claimed then text = text .. ", who claims to be " .. found.claimed .. " (unverified)" end
  return text
end
-- tandem.notify(text, thread): a note to the user's XMPP client
-- (xmpp.notify_user, in `thread` if given); answers the note's id, or nil
-- after logging why it could not go, so no rule stops over a lost note.
function tandem.notify(text, thread)
  local sent, err = tandem.try_call("xmpp.notify_user", { text = text, thread = thread })
  if not sent then
    tandem.log.warn("could not reach your XMPP client: " .. tostring(err.message or err))
    return nil
  end
  return sent.id
end
-- tandem.sip_thread(uri): the XEP-0201 thread of the user's chat with a SIP
-- peer, the same in every rule and across restarts, so an answer in it
-- finds the peer whichever rule wrote the note.
local SIP_THREAD = "tandem-sip:"
function tandem.sip_thread(uri)
  return SIP_THREAD .. uri
end
-- tandem.sip_peer_of_thread(thread): the SIP peer a thread of
-- tandem.sip_thread is with, or nil for any other thread (or none).
function tandem.sip_peer_of_thread(thread)
  if type(thread) ~= "string" or thread:sub(1, #SIP_THREAD) ~= SIP_THREAD then return nil end
  return thread:sub(#SIP_THREAD + 1)
end
-- tandem.duration(seconds): "42 s", "3 min 5 s", "1 h 2 min", for notes a
-- person reads; anything not a number counts as 0.
function tandem.duration(seconds)
  local s = floor((type(seconds) == "number" and seconds or 0) + 0.5)
  if s < 60 then return s .. " s" end
  if s < 3600 then return floor(s / 60) .. " min " .. (s % 60) .. " s" end
  return floor(s / 3600) .. " h " .. floor((s % 3600) / 60) .. " min"
end
"#;

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
