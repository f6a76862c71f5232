//! A sandboxed Lua 5.4 state with an instruction budget and a memory limit.
//!
//! Only `table string math utf8 coroutine` and a safe `os` subset are there:
//! no `io`, no `os.execute`/`os.remove`/`os.exit`, no `debug`, no `package`
//! or `require` (so no C modules), no `dofile`/`loadfile`, `load` only of
//! text chunks, no `string.dump`, no `__gc` metamethods (see [`PRELUDE`]).
//! `string.find`, `match`, `gmatch` and `gsub` are the host's own
//! ([`super::patterns`]): Lua's run in one C call that the instruction
//! budget cannot interrupt.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};

/// How many VM instructions pass between two budget checks.
const HOOK_PERIOD: u32 = 1000;

/// The instruction budget of the running handler. Reset before every
/// resumption; once spent, every later check raises again, and the `pcall`
/// wrappers re-raise it, so a script cannot catch its way out.
pub struct Budget {
    limit: u64,
    remaining: Cell<u64>,
    exhausted_at: RefCell<Option<String>>,
    /// Wall-clock time one resumption may take, checked with the
    /// instructions. The count cannot see work done inside one
    /// instruction: `s:upper()`, `s .. s` or `table.concat` on a string of
    /// megabytes is one instruction, so a loop of them within the default
    /// budget would hold the engine (every rule) for hours.
    time_limit: Cell<Option<Duration>>,
    started: Cell<Instant>,
    /// The time limit, not the count, stopped the resumption.
    out_of_time: Cell<bool>,
}

impl Budget {
    pub fn reset(&self) {
        self.remaining.set(self.limit);
        self.exhausted_at.replace(None);
        self.started.set(Instant::now());
        self.out_of_time.set(false);
    }
    /// `None`: no time limit (the count alone).
    pub fn set_time_limit(&self, limit: Option<Duration>) {
        self.time_limit.set(limit);
    }
    /// Whether this resumption has run past its time limit.
    fn overtime(&self) -> bool {
        self.time_limit
            .get()
            .is_some_and(|limit| self.started.get().elapsed() > limit)
    }
    /// What was exceeded, for the error the rule's author reads.
    pub fn exceeded(&self) -> String {
        match self.time_limit.get() {
            Some(limit) if self.out_of_time.get() => format!(
                "time limit of {} ms exceeded (slow work on a large value, in a loop?)",
                limit.as_millis()
            ),
            _ => format!(
                "instruction budget of {} exceeded (a runaway loop?)",
                self.limit
            ),
        }
    }
    pub fn exhausted_at(&self) -> Option<String> {
        self.exhausted_at.borrow().clone()
    }
    pub fn limit(&self) -> u64 {
        self.limit
    }
    /// What is left of the budget, in instructions (or pattern matcher
    /// steps: [`super::patterns`] charges the same budget).
    pub(super) fn remaining(&self) -> u64 {
        self.remaining.get()
    }
    pub(super) fn set_remaining(&self, left: u64) {
        self.remaining.set(left);
    }
    /// Marks the budget spent at `place` (`file:line`); the first place
    /// recorded is the one reported.
    pub(super) fn exhaust(&self, place: String) {
        self.remaining.set(0);
        let mut at = self.exhausted_at.borrow_mut();
        if at.is_none() {
            *at = Some(place);
        }
    }
}

/// Runs Lua before the script: wraps the error-catching functions so an
/// interrupted handler stays interrupted, and refuses `__gc`.
///
/// Why no `__gc`: Lua runs finalizers with hooks off (lgc.c, `GCTM`), so
/// the instruction budget cannot stop one, and Lua swallows their errors.
/// A finalizer looping forever, run by any allocation of any rule (or by
/// closing the state), would hold up the engine's thread for good. An
/// object is marked for finalization only if its metatable has `__gc`
/// when it is set, and a rule sets metatables only with `setmetatable`
/// (the host's Lua code too uses this one); the metatables the host sets
/// from Rust (mlua's arrays, userdata) are protected by `__metatable`. So
/// checking here is enough.
///
/// Why `coroutine.create` is charged: the count hook is per coroutine
/// (each Lua thread counts its own instructions down from [`HOOK_PERIOD`]
/// and only then runs the hook), so a coroutine that runs fewer than
/// `HOOK_PERIOD` instructions is never charged at all, and a tree of
/// short coroutines, each starting a few more, ran without end and without
/// a check. Each coroutine pays for those instructions when it is created.
const PRELUDE: &str = r#"
local exhausted, charge = ...
local raw_pcall, raw_xpcall, raw_resume, raw_wrap, raw_load = pcall, xpcall, coroutine.resume, coroutine.wrap, load
local raw_create = coroutine.create
local function create(f)
  charge()
  return raw_create(f)
end
coroutine.create = create
local pack, unpack, error, type = table.pack, table.unpack, error, type
local raw_setmetatable, rawget = setmetatable, rawget
setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc is not allowed: finalizers cannot be stopped by the instruction budget", 2)
  end
  return raw_setmetatable(t, mt)
end
local function check(results)
  if exhausted() then error(results[2], 0) end
  return unpack(results, 1, results.n)
end
pcall = function(...) return check(pack(raw_pcall(...))) end
xpcall = function(...) return check(pack(raw_xpcall(...))) end
coroutine.resume = function(...) return check(pack(raw_resume(...))) end
coroutine.wrap = function(f)
  local co = create(f)
  return function(...)
    local r = pack(raw_resume(co, ...))
    if exhausted() then error(r[2], 0) end
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end
load = function(chunk, name, mode, env)
  if mode ~= nil and mode ~= "t" then return nil, "only text chunks can be loaded" end
  if type(chunk) == "string" and chunk:byte(1) == 27 then return nil, "binary chunks are not allowed" end
  return raw_load(chunk, name, "t", env)
end
string.dump = nil
dofile, loadfile, collectgarbage = nil, nil, nil
"#;

/// A fresh sandboxed state and its budget.
pub fn new_state(instruction_budget: u64, memory_limit: usize) -> mlua::Result<(Lua, Rc<Budget>)> {
    let libs = StdLib::TABLE
        | StdLib::STRING
        | StdLib::MATH
        | StdLib::UTF8
        | StdLib::COROUTINE
        | StdLib::OS;
    let lua = Lua::new_with(libs, LuaOptions::default())?;

    // Keep only the harmless part of `os`.
    let globals = lua.globals();
    let os: mlua::Table = globals.get("os")?;
    let safe_os = lua.create_table()?;
    for name in ["time", "clock", "date", "difftime"] {
        safe_os.set(name, os.get::<mlua::Value>(name)?)?;
    }
    globals.set("os", safe_os)?;

    let budget = Rc::new(Budget {
        limit: instruction_budget.max(HOOK_PERIOD as u64),
        remaining: Cell::new(instruction_budget),
        exhausted_at: RefCell::new(None),
        time_limit: Cell::new(None),
        started: Cell::new(Instant::now()),
        out_of_time: Cell::new(false),
    });
    let hook_budget = budget.clone();
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_PERIOD),
        move |_lua, debug| {
            let left = hook_budget
                .remaining
                .get()
                .saturating_sub(HOOK_PERIOD as u64);
            hook_budget.remaining.set(left);
            let overtime = hook_budget.overtime();
            if left > 0 && !overtime {
                return Ok(VmState::Continue);
            }
            if hook_budget.exhausted_at.borrow().is_none() {
                hook_budget.out_of_time.set(overtime && left > 0);
                let src = debug
                    .source()
                    .short_src
                    .map(|s| s.into_owned())
                    .unwrap_or_else(|| "?".to_owned());
                let place = match debug.current_line() {
                    Some(line) => format!("{src}:{line}"),
                    None => src,
                };
                hook_budget.exhausted_at.replace(Some(place));
            }
            hook_budget.remaining.set(0);
            Err(mlua::Error::RuntimeError(hook_budget.exceeded()))
        },
    )?;

    super::patterns::install(&lua, &budget)?;

    let exhausted_budget = budget.clone();
    let exhausted =
        lua.create_function(move |_, ()| Ok(exhausted_budget.exhausted_at.borrow().is_some()))?;
    let charge_budget = budget.clone();
    let charge = lua.create_function(move |lua, ()| {
        let left = charge_budget
            .remaining
            .get()
            .saturating_sub(HOOK_PERIOD as u64);
        charge_budget.remaining.set(left);
        if left > 0 {
            return Ok(());
        }
        charge_budget.exhaust(rule_place(lua).unwrap_or_else(|| "?".to_owned()));
        Err(mlua::Error::RuntimeError(format!(
            "instruction budget of {} exceeded",
            charge_budget.limit
        )))
    })?;
    lua.load(PRELUDE)
        .set_name("=tandem-prelude")
        .call::<()>((exhausted, charge))?;
    lua.set_memory_limit(memory_limit)?;
    Ok((lua, budget))
}

/// `file:line` of the innermost rule code on the stack of the running
/// coroutine (not the host's prelude, not a C function).
fn rule_place(lua: &Lua) -> Option<String> {
    (1..16).find_map(|level| {
        lua.inspect_stack(level, |debug| {
            let source = debug.source();
            let ours = source
                .source
                .as_deref()
                .is_some_and(|s| s.starts_with("=tandem"));
            if ours || source.what == "C" {
                return None;
            }
            let src = source.short_src.as_deref().unwrap_or("?").to_owned();
            Some(match debug.current_line() {
                Some(line) => format!("{src}:{line}"),
                None => src,
            })
        })
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Lua {
        new_state(1_000_000, 16 << 20).unwrap().0
    }

    #[test]
    fn dangerous_globals_are_gone() {
        let lua = state();
        for expr in [
            "io",
            "debug",
            "package",
            "require",
            "dofile",
            "loadfile",
            "string.dump",
            "os.execute",
            "os.remove",
            "os.exit",
            "os.getenv",
            "collectgarbage",
        ] {
            let v: mlua::Value = lua.load(format!("return {expr}")).eval().unwrap();
            assert!(v.is_nil(), "{expr} is reachable");
        }
        let t: i64 = lua.load("return os.time()").eval().unwrap();
        assert!(t > 0);
    }

    #[test]
    fn finalizers_are_refused() {
        let lua = state();
        let err = lua
            .load("setmetatable({}, {__gc = function() while true do end end})")
            .set_name("=rule.lua")
            .exec()
            .unwrap_err()
            .to_string();
        assert!(err.contains("rule.lua:1: __gc is not allowed"), "{err}");
        // Adding __gc later marks nothing (Lua decides at setmetatable).
        let n: i64 = lua
            .load("local mt = {} local t = setmetatable({}, mt) mt.__gc = function() while true do end end t = nil return #('x'):rep(100000)")
            .eval()
            .unwrap();
        assert_eq!(n, 100000);
        lua.gc_collect().unwrap();
        // Everything else about setmetatable is as it was.
        let v: String = lua
            .load("return setmetatable(setmetatable({}, {__index = function() return 'i' end}), nil).x or tostring(getmetatable(setmetatable({}, {__metatable = 'no'})))")
            .eval()
            .unwrap();
        assert_eq!(v, "no");
    }

    #[test]
    fn binary_chunks_cannot_be_loaded() {
        let lua = state();
        let (f, err): (mlua::Value, String) =
            lua.load(r#"return load("\27Lua junk")"#).eval().unwrap();
        assert!(f.is_nil());
        assert!(err.contains("binary"), "{err}");
        let (f, _): (mlua::Value, mlua::Value) = lua
            .load(r#"return load("return 1", "x", "b")"#)
            .eval()
            .unwrap();
        assert!(f.is_nil());
    }
}
