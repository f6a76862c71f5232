//! Starting an event handler: its table built and its coroutine resumed in
//! one protected call.
//!
//! Through mlua's safe API, starting a handler meant three values moved
//! into mlua's reference thread and back out again (event table, topic,
//! source), the handler function cloned into a reset coroutine, and a
//! resumption that locks, checks the thread's status twice and collects
//! results into a list. Per event that was as much work as the handler
//! itself. Here the values go straight from the tape onto the coroutine's
//! stack and `lua_resume` runs it; only what the handler yields (a
//! `tandem.call`) or raises comes back as mlua values.

use mlua::{ffi, Function, Lua, LuaSerdeExt, MultiValue, Thread};

use super::tape::{push, Tape};

/// How a started handler stopped.
pub(super) enum Outcome {
    /// It returned (what it returned is of no use for an event).
    Finished,
    /// It yielded these values (a `tandem.call`, if well formed).
    Yielded(MultiValue),
    /// It raised this error.
    Failed(mlua::Error),
}

impl Tape<'_> {
    /// Runs `func(event, topic, source)` on `co`, a coroutine that is new or
    /// has finished, until it returns, yields or fails. As in
    /// [`Tape::event_args`], only the first `wanted` arguments are built.
    ///
    /// The outer error is a failure to build the arguments (out of memory);
    /// the handler did not run then.
    pub fn start_handler(
        &self,
        lua: &Lua,
        co: &Thread,
        func: &Function,
        topic: &str,
        source: &str,
        wanted: u8,
    ) -> mlua::Result<Outcome> {
        let array_mt = self.has_arrays().then(|| lua.array_metatable());
        // SAFETY: the closure runs inside one protected call on the main
        // state, with (array metatable or nil, coroutine, function) as its
        // arguments at 1..=3. It holds no owned Rust data, so a Lua error
        // raised on the main state (out of memory) unwinds only plain
        // frames. Nothing is pushed onto the coroutine's stack without
        // room checked first (`lua_checkstack` raises nothing), and the
        // coroutine's own errors are caught by `lua_resume`. It leaves the
        // status and whatever came back on the main state's stack.
        let mut values = unsafe {
            lua.exec_raw::<MultiValue>((array_mt, co, func), |state| {
                let thread = ffi::lua_tothread(state, 2);
                // A finished coroutine's stack is empty; a new one holds
                // the function it was made with, pushed again below.
                ffi::lua_settop(thread, 0);
                if ffi::lua_checkstack(thread, 4) == 0 {
                    ffi::luaL_error(state, c"coroutine stack overflow".as_ptr());
                }
                ffi::lua_pushvalue(state, 3);
                push(state, self.tokens(), &mut 0);
                push_str(state, wanted >= 2, topic);
                push_str(state, wanted >= 3, source);
                ffi::lua_xmove(state, thread, 4);
                let mut results = 0;
                let status = ffi::lua_resume(thread, state, 3, &mut results);
                let mut back = match status {
                    ffi::LUA_OK => 0,
                    ffi::LUA_YIELD => results,
                    _ => 1, // the error object
                };
                ffi::lua_settop(state, 0);
                // The handler has run: no error may be raised from here on
                // (it would read as "not given"). A C function always has
                // room for 20 values; a yield of more is no `tandem.call`
                // anyway, and comes back as a yield of nothing.
                if ffi::lua_checkstack(state, back + 1) == 0 {
                    back = 0;
                }
                ffi::lua_pushinteger(state, status.into());
                ffi::lua_xmove(thread, state, back);
                if status == ffi::LUA_OK {
                    ffi::lua_settop(thread, 0);
                } else if status != ffi::LUA_YIELD && has_tostring(state) {
                    // `error(404)`, `error(obj)` with __tostring: its text,
                    // as Lua's own reports give it.
                    ffi::luaL_tolstring(state, -1, std::ptr::null_mut());
                    ffi::lua_replace(state, -2);
                }
            })?
        }
        .into_iter();
        let status = match values.next() {
            Some(mlua::Value::Integer(status)) => status as i32,
            other => unreachable!("start_handler leaves its status first, not {other:?}"),
        };
        Ok(match status {
            ffi::LUA_OK => Outcome::Finished,
            ffi::LUA_YIELD => Outcome::Yielded(values.collect()),
            _ => Outcome::Failed(error_of(status, values.next())),
        })
    }
}

/// Where a coroutine that failed stopped: the innermost line of Lua on its
/// stack (Lua keeps a failed coroutine's stack for the debug API). Errors
/// raised by the allocator or by an API function written in Rust carry no
/// position of their own; this is it.
pub(super) fn stopped_at(lua: &Lua, co: &Thread) -> Option<String> {
    // The place is copied out as plain data, not pushed as a Lua string:
    // after a memory error the limit is still near, and the failed
    // coroutine's locals (the table it was filling) are still alive.
    let mut found: Option<ffi::lua_Debug> = None;
    // SAFETY: inside one protected call with the coroutine at 1; reading
    // frames raises nothing and allocates nothing, and `found` is plain
    // data, so nothing is lost if an error unwinds.
    let read = unsafe {
        lua.exec_raw::<()>(co, |state| {
            let thread = ffi::lua_tothread(state, 1);
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            let mut level = 0;
            while ffi::lua_getstack(thread, level, &mut ar) != 0 {
                ffi::lua_getinfo(thread, c"Sl".as_ptr(), &mut ar);
                if ar.currentline > 0 {
                    found = Some(ar);
                    break;
                }
                level += 1;
            }
            ffi::lua_settop(state, 0);
        })
    };
    let ar = found.filter(|_| read.is_ok())?;
    // SAFETY: `short_src` is a NUL-terminated buffer inside `ar`.
    let src = unsafe { std::ffi::CStr::from_ptr(ar.short_src.as_ptr()) };
    Some(format!("{}:{}", src.to_string_lossy(), ar.currentline))
}

/// Whether the value on top of `state` is a number or a table with a
/// `__tostring`: an error object whose text is worth more than its type.
/// Userdata are left alone: mlua's Rust errors are userdata, and keep their
/// kind only as such.
///
/// # Safety
/// A value on top of `state`, one free slot.
unsafe fn has_tostring(state: *mut ffi::lua_State) -> bool {
    // SAFETY: the caller's contract; luaL_getmetafield pushes the field
    // only when it is there.
    unsafe {
        match ffi::lua_type(state, -1) {
            ffi::LUA_TNUMBER => true,
            ffi::LUA_TTABLE => {
                let found = ffi::luaL_getmetafield(state, -1, c"__tostring".as_ptr());
                if found != ffi::LUA_TNIL {
                    ffi::lua_pop(state, 1);
                }
                found != ffi::LUA_TNIL
            }
            _ => false,
        }
    }
}

/// Pushes `s`, or nil when the handler does not take it.
///
/// # Safety
/// Inside a protected call on `state`.
unsafe fn push_str(state: *mut ffi::lua_State, wanted: bool, s: &str) {
    // SAFETY: the caller's contract.
    unsafe {
        if wanted {
            ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
        } else {
            ffi::lua_pushnil(state);
        }
    }
}

/// The error a coroutine raised, as mlua would have reported it.
fn error_of(status: i32, value: Option<mlua::Value>) -> mlua::Error {
    let text = match value {
        // An error from Rust (an API function) keeps its kind.
        Some(mlua::Value::Error(e)) => return *e,
        Some(mlua::Value::String(s)) => s.to_string_lossy(),
        Some(other) => format!("(error object is a {} value)", other.type_name()),
        None => "unknown error".to_owned(),
    };
    if status == ffi::LUA_ERRMEM {
        mlua::Error::MemoryError(text)
    } else {
        mlua::Error::RuntimeError(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts the handler `src` evaluates to, on a new coroutine, with the
    /// event `json`, topic "top" and source "src".
    fn start(lua: &Lua, src: &str, json: &str, wanted: u8) -> (Outcome, Thread) {
        let f: Function = lua.load(src).eval().unwrap();
        let co = lua.create_thread(f.clone()).unwrap();
        let tape = Tape::parse(json).unwrap();
        let outcome = tape
            .start_handler(lua, &co, &f, "top", "src", wanted)
            .unwrap();
        (outcome, co)
    }

    fn failure(lua: &Lua, src: &str) -> mlua::Error {
        match start(lua, src, "{}", 1).0 {
            Outcome::Failed(e) => e,
            _ => panic!("{src} did not fail"),
        }
    }

    fn seen(lua: &Lua) -> String {
        lua.globals().get("seen").unwrap()
    }

    #[test]
    fn a_handler_runs_on_a_new_and_then_a_reused_coroutine() {
        let lua = Lua::new();
        let f: Function = lua
            .load("return function(ev, t, s) seen = (seen or '') .. ev.call .. t .. s .. #ev.n end")
            .eval()
            .unwrap();
        let co = lua.create_thread(f.clone()).unwrap();
        let tape = Tape::parse(r#"{"call":"c1","n":[1,2]}"#).unwrap();
        for _ in 0..2 {
            let outcome = tape.start_handler(&lua, &co, &f, "top", "src", 3).unwrap();
            assert!(matches!(outcome, Outcome::Finished));
        }
        assert_eq!(seen(&lua), "c1topsrc2c1topsrc2");
    }

    #[test]
    fn undeclared_strings_are_nil() {
        let lua = Lua::new();
        let src = "return function(ev, t, s) seen = tostring(t) .. tostring(s) end";
        start(&lua, src, "{}", 1);
        assert_eq!(seen(&lua), "nilnil");
    }

    #[test]
    fn a_yield_comes_back_with_its_values_and_can_be_resumed() {
        let lua = Lua::new();
        let src = "return function(ev) local r = coroutine.yield('call', ev.x) seen = r end";
        let (Outcome::Yielded(values), co) = start(&lua, src, r#"{"x":7}"#, 1) else {
            panic!("expected a yield");
        };
        let values: Vec<mlua::Value> = values.into_iter().collect();
        assert_eq!(values.len(), 2);
        assert_eq!(values[1], mlua::Value::Integer(7));
        co.resume::<()>("answer").unwrap();
        assert_eq!(seen(&lua), "answer");
    }

    #[test]
    fn errors_keep_their_message_and_kind() {
        let lua = Lua::new();
        let e = failure(&lua, "return function() error('boom') end");
        assert!(
            matches!(&e, mlua::Error::RuntimeError(m) if m.ends_with("boom")),
            "{e:?}"
        );

        let rust = lua
            .create_function(|_, ()| Err::<(), _>(mlua::Error::runtime("from rust")))
            .unwrap();
        lua.globals().set("fail", rust).unwrap();
        let e = failure(&lua, "return function() fail() end");
        assert!(matches!(e, mlua::Error::CallbackError { .. }), "{e:?}");

        let e = failure(&lua, "return function() error({}) end");
        assert!(e.to_string().contains("table value"), "{e}");

        let e = failure(&lua, "return function() error(404) end");
        assert_eq!(e.to_string(), "runtime error: 404");
        let e = failure(
            &lua,
            "return function() error(setmetatable({}, {__tostring = function() return 'mine' end})) end",
        );
        assert_eq!(e.to_string(), "runtime error: mine");
    }

    #[test]
    fn a_failed_coroutine_tells_the_line_it_stopped_at() {
        let lua = Lua::new();
        let rust = lua
            .create_function(|_, ()| Err::<(), _>(mlua::Error::runtime("from rust")))
            .unwrap();
        lua.globals().set("fail", rust).unwrap();
        let src = "return function()\n  local x = 1\n  fail()\nend";
        let (outcome, co) = start(&lua, src, "{}", 1);
        assert!(matches!(outcome, Outcome::Failed(_)));
        let place = stopped_at(&lua, &co).unwrap();
        assert!(place.ends_with(":3"), "{place}");
    }

    #[test]
    fn running_out_of_memory_in_the_handler_is_a_memory_error() {
        let lua = Lua::new();
        lua.set_memory_limit(lua.used_memory() + 512 * 1024)
            .unwrap();
        let e = failure(
            &lua,
            "return function() local t = {} for i = 1, 1e9 do t[i] = i end end",
        );
        assert!(matches!(e, mlua::Error::MemoryError(_)), "{e:?}");
    }

    #[test]
    fn the_line_of_a_memory_error_is_found_with_no_memory_to_spare() {
        let lua = Lua::new();
        lua.set_memory_limit(lua.used_memory() + 512 * 1024)
            .unwrap();
        let src = "return function()\n  local t = {}\n  for i = 1, 1e9 do t[i] = 'x' .. i end\nend";
        let (outcome, co) = start(&lua, src, "{}", 1);
        assert!(matches!(
            outcome,
            Outcome::Failed(mlua::Error::MemoryError(_))
        ));
        let place = stopped_at(&lua, &co).unwrap();
        assert!(place.ends_with(":3"), "{place}");
    }
}
