//! The sandbox's `string.find`, `string.match`, `string.gmatch` and
//! `string.gsub`: Lua 5.4 patterns matched in Rust, metered by the rule's
//! instruction budget.
//!
//! Why: the budget is charged by a count hook, and Lua runs hooks only
//! between VM instructions. A call of stock `string.find` is one
//! instruction however long its C matcher backtracks, so
//! `string.find(("a"):rep(5000), ".-.-.-.-x")` ran for minutes and held up
//! every rule (they share the engine's thread). Here every step of the
//! matcher ([`matcher`]) costs one unit of the same budget, and a runaway
//! pattern is stopped like a runaway loop: the same error, the line that
//! called the function, and `pcall` cannot catch it.
//!
//! Why raw C functions rather than mlua callbacks: these are called in
//! rules' hot paths (`jid:match(...)`, `uri:find("sip:", 1, true)`), and a
//! raw function costs about what Lua's own does per call (figures in
//! docs/benchmarks.md), where an mlua callback moves every argument into
//! its reference thread and back. It also keeps
//! Lua's exact behaviour at the edges for free: arguments are checked and
//! coerced by the same `luaL_check*` functions (numbers as strings,
//! "bad argument #2 to 'find'"), and errors are plain strings with the
//! caller's position, as `pcall` users expect, not mlua error userdata.
//!
//! Everything is on bytes: Lua strings are byte strings, not UTF-8.
//!
//! What makes the raw functions sound (see also [`raw`]):
//! - Lua errors are `longjmp`s (the vendored Lua is C), which skip Rust
//!   frames without running anything: no frame here owns anything with a
//!   destructor, or holds a `RefCell` borrow, while it calls Lua. The
//!   budget's `Cell` is written back before any call (see [`metered`]).
//! - They are `extern "C-unwind"` because that is mlua's `lua_CFunction`,
//!   but nothing may unwind out of them: a panic crossing Lua's C frames
//!   would leave the state pointing at dead frames (its `errorJmp`, its
//!   call info). The matcher, the only code complex enough to panic, runs
//!   under `catch_unwind`; the rest indexes only within bounds the matcher
//!   guarantees (a match and its captures lie inside the subject, in
//!   order; a search starts at or after where the last one ended).
//! - No Rust frame is ever suspended: nothing here yields, and what they
//!   call (`lua_call` without a continuation, `lua_gettable`'s `__index`)
//!   runs unyieldable, so a `coroutine.yield` (or `tandem.call`) in a
//!   `gsub` replacement raises "attempt to yield across a C-call boundary",
//!   as with stock Lua, instead of leaving a frame behind.
//! - They may be entered again while running: any allocation (a push, a
//!   buffer growing) may run `__gc` finalizers, the host's own (the
//!   sandbox refuses them to rules), and a `gsub` replacement is any
//!   code. So the shared state (the budget, a `gmatch` iterator's
//!   progress) is brought up to date before each such call.

mod class;
mod matcher;
mod raw;
#[cfg(test)]
mod tests;

use std::ffi::{c_int, c_void};
use std::fmt::Write;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use mlua::{ffi, Lua};

use super::sandbox::Budget;
use matcher::{Captured, Matcher, PatternError};
use raw::{Message, State};

/// The bytes that make a pattern more than a string: without any of
/// them, `find` searches for the pattern as a substring (as Lua does).
const SPECIALS: &[u8] = b"^$*+?.([%-";

/// Holds the budget for as long as the Lua state lives: the functions
/// reach it through a light userdata upvalue, and mlua drops app data only
/// after `lua_close` (which runs the last finalizers, which may call the
/// functions). The type is private, so nothing else can remove it.
struct KeepBudget {
    _budget: Rc<Budget>,
}

/// Replaces the four pattern functions of `lua`'s `string` table (also
/// the strings' `__index`, so `s:find(...)` is covered) with metered ones
/// charging `budget`. Once per state.
pub(super) fn install(lua: &Lua, budget: &Rc<Budget>) -> mlua::Result<()> {
    lua.set_app_data(KeepBudget {
        _budget: budget.clone(),
    });
    let string: mlua::Table = lua.globals().get("string")?;
    let functions: [(&std::ffi::CStr, ffi::lua_CFunction); 4] = [
        (c"find", find),
        (c"match", str_match),
        (c"gmatch", gmatch),
        (c"gsub", gsub),
    ];
    let budget_ptr = Rc::as_ptr(budget) as *mut c_void;
    // SAFETY: inside a protected call with the string table at 1; each
    // closure gets the budget as its one upvalue, a pointer kept valid by
    // `KeepBudget` for the state's whole life.
    unsafe {
        lua.exec_raw::<()>(string, |state| {
            for (name, function) in functions {
                ffi::lua_pushlightuserdata(state, budget_ptr);
                ffi::lua_pushcclosure(state, function, 1);
                ffi::lua_setfield(state, 1, name.as_ptr());
            }
        })
    }
}

/// The budget: upvalue `n` of the running function.
///
/// A shared reference is enough, and may be held across calls into Lua
/// that charge the budget too (the hook, nested pattern functions): its
/// fields are `Cell`/`RefCell`, never borrowed across a call.
///
/// # Safety
/// Inside one of this module's closures; `n` is the budget's upvalue.
unsafe fn budget<'a>(state: State, n: c_int) -> &'a Budget {
    // SAFETY: the caller's contract; see `install`.
    unsafe { &*ffi::lua_touserdata(state, ffi::lua_upvalueindex(n)).cast::<Budget>() }
}

/// Runs `search` with the budget's fuel and puts back what is left. A
/// panic (a bug) becomes an error here: it must not unwind into Lua.
///
/// `search` calls no Lua, so this `catch_unwind` is never jumped over, and
/// the budget is whole again before anything that may run Lua code (a
/// push, a replacement function, whose own instructions and patterns
/// charge the same budget).
fn metered<T>(
    budget: &Budget,
    m: &mut Matcher,
    search: impl FnOnce(&mut Matcher) -> Result<T, PatternError>,
) -> Result<T, PatternError> {
    m.set_fuel(budget.remaining());
    let result =
        catch_unwind(AssertUnwindSafe(|| search(m))).unwrap_or(Err(PatternError::Internal));
    budget.set_remaining(m.fuel());
    result
}

/// Raises `error`. A spent budget is recorded with the calling line, and
/// reported as the instruction hook reports it.
///
/// # Safety
/// As [`raw::raise`].
unsafe fn fail(state: State, budget: &Budget, error: PatternError) -> ! {
    let mut message = Message::new();
    if error == PatternError::BudgetSpent {
        // SAFETY: the caller's contract. The `String` is moved into the
        // budget before raising: this frame owns nothing when Lua jumps.
        let place = unsafe { raw::caller_place(state) };
        budget.exhaust(place.unwrap_or_else(|| "?".to_owned()));
        let _ = write!(message, "instruction budget of {} exceeded", budget.limit());
    } else {
        let _ = write!(message, "{error}");
    }
    // SAFETY: the caller's contract; `message` is plain data.
    unsafe { raw::raise(state, &message) }
}

/// A 1-based, possibly negative `init` as a 0-based offset: negative counts
/// from the end, 0 and anything before the start mean the start. May be
/// past the end; the callers decide what that means.
fn start_offset(init: ffi::lua_Integer, len: usize) -> usize {
    let len = len as ffi::lua_Integer;
    let position = if init > 0 {
        init
    } else if init == 0 || init < -len {
        1
    } else {
        len + init + 1
    };
    usize::try_from(position - 1).unwrap_or(usize::MAX)
}

/// A leading `^` anchors `find`, `match` and `gsub` (not `gmatch`).
fn split_anchor(pattern: &[u8]) -> (bool, &[u8]) {
    match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    }
}

/// `string.find(s, pattern [, init [, plain]])`
unsafe extern "C-unwind" fn find(state: State) -> c_int {
    // SAFETY: called by Lua as a closure made by `install`.
    unsafe { find_or_match(state, true) }
}

/// `string.match(s, pattern [, init])`
unsafe extern "C-unwind" fn str_match(state: State) -> c_int {
    // SAFETY: called by Lua as a closure made by `install`.
    unsafe { find_or_match(state, false) }
}

/// # Safety
/// Called by Lua as a closure made by `install`.
unsafe fn find_or_match(state: State, find: bool) -> c_int {
    // SAFETY: the subject and pattern stay in slots 1 and 2 throughout;
    // nothing here owns anything with a destructor when Lua is called.
    unsafe {
        let subject = raw::check_bytes(state, 1);
        let pattern = raw::check_bytes(state, 2);
        let init = start_offset(ffi::luaL_optinteger(state, 3, 1), subject.len());
        if init > subject.len() {
            ffi::lua_pushnil(state);
            return 1;
        }
        if find
            && (ffi::lua_toboolean(state, 4) != 0 || !pattern.iter().any(|b| SPECIALS.contains(b)))
        {
            return match memchr::memmem::find(&subject[init..], pattern) {
                Some(at) => {
                    ffi::lua_pushinteger(state, (init + at + 1) as ffi::lua_Integer);
                    ffi::lua_pushinteger(state, (init + at + pattern.len()) as ffi::lua_Integer);
                    2
                }
                None => {
                    ffi::lua_pushnil(state);
                    1
                }
            };
        }
        let budget = budget(state, 1);
        let (anchored, body) = split_anchor(pattern);
        let mut m = Matcher::new(subject, body);
        match metered(budget, &mut m, |m| m.search(init, anchored, None)) {
            Err(error) => fail(state, budget, error),
            Ok(None) => {
                ffi::lua_pushnil(state);
                1
            }
            Ok(Some((start, end))) if find => {
                ffi::lua_pushinteger(state, (start + 1) as ffi::lua_Integer);
                ffi::lua_pushinteger(state, end as ffi::lua_Integer);
                push_captures(state, budget, &m, (start, end), false) + 2
            }
            Ok(Some(whole)) => push_captures(state, budget, &m, whole, true),
        }
    }
}

/// Pushes the captures of the last match of `m`, which spanned `whole`;
/// with none and `whole_if_none`, the whole match. Returns how many.
///
/// # Safety
/// Inside one of this module's functions.
unsafe fn push_captures(
    state: State,
    budget: &Budget,
    m: &Matcher,
    whole: (usize, usize),
    whole_if_none: bool,
) -> c_int {
    let n = match m.level() {
        0 if whole_if_none => 1,
        level => level,
    };
    // SAFETY: the caller's contract.
    unsafe {
        ffi::luaL_checkstack(state, n as c_int, c"too many captures".as_ptr());
        for i in 0..n {
            push_capture(state, budget, m, i, whole);
        }
    }
    n as c_int
}

/// # Safety
/// As [`push_captures`].
unsafe fn push_capture(
    state: State,
    budget: &Budget,
    m: &Matcher,
    i: usize,
    whole: (usize, usize),
) {
    // SAFETY: the caller's contract.
    unsafe {
        match m.capture(i, whole) {
            Ok(Captured::Text(text)) => raw::push_bytes(state, text),
            Ok(Captured::Position(at)) => ffi::lua_pushinteger(state, at as ffi::lua_Integer),
            Err(error) => fail(state, budget, error),
        }
    }
}

/// Where a `gmatch` iterator is: its state, in a userdata upvalue.
#[derive(Clone, Copy)]
struct Progress {
    /// Where the next search starts (past the end: no more matches).
    next: usize,
    /// The end of the previous match: no empty match may end there again.
    last: Option<usize>,
}

/// `string.gmatch(s, pattern [, init])`: an iterator over the matches.
/// A `^` does not anchor here (it would stop the iteration); it is a
/// plain `^`.
unsafe extern "C-unwind" fn gmatch(state: State) -> c_int {
    // SAFETY: called by Lua as a closure made by `install`. The iterator's
    // upvalues keep the subject and pattern strings alive for it.
    unsafe {
        let subject = raw::check_bytes(state, 1);
        raw::check_bytes(state, 2);
        let init = start_offset(ffi::luaL_optinteger(state, 3, 1), subject.len());
        let next = init.min(subject.len() + 1);
        ffi::lua_settop(state, 2);
        let progress = ffi::lua_newuserdatauv(state, std::mem::size_of::<Progress>(), 0);
        progress
            .cast::<Progress>()
            .write(Progress { next, last: None });
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_pushcclosure(state, gmatch_step, 4);
        1
    }
}

/// One step of a `gmatch` iterator. Upvalues: subject, pattern, progress,
/// budget.
unsafe extern "C-unwind" fn gmatch_step(state: State) -> c_int {
    // SAFETY: called by Lua as the closure made by `gmatch`. The progress
    // is read and written back before anything is pushed (a push may run
    // a finalizer, which may call this iterator).
    unsafe {
        let subject = raw::bytes_at(state, ffi::lua_upvalueindex(1));
        let pattern = raw::bytes_at(state, ffi::lua_upvalueindex(2));
        let slot = ffi::lua_touserdata(state, ffi::lua_upvalueindex(3)).cast::<Progress>();
        let budget = budget(state, 4);
        let progress = slot.read();
        let mut m = Matcher::new(subject, pattern);
        match metered(budget, &mut m, |m| {
            m.search(progress.next, false, progress.last)
        }) {
            Err(error) => fail(state, budget, error),
            Ok(None) => {
                slot.write(Progress {
                    next: subject.len() + 1,
                    last: None,
                });
                0
            }
            Ok(Some((start, end))) => {
                slot.write(Progress {
                    next: end,
                    last: Some(end),
                });
                push_captures(state, budget, &m, (start, end), true)
            }
        }
    }
}

/// `string.gsub(s, pattern, repl [, n])`: a copy of `s` with (the first
/// `n`) matches replaced, and how many were.
unsafe extern "C-unwind" fn gsub(state: State) -> c_int {
    // SAFETY: called by Lua as a closure made by `install`. The subject,
    // pattern and replacement stay in slots 1-3; the buffer stays where
    // `luaL_buffinit` put it (it points into itself) and the stack is kept
    // as it expects: only a replacement value is ever pushed above it,
    // and consumed at once. No frame owns anything with a destructor while
    // Lua runs the replacement function.
    unsafe {
        let subject = raw::check_bytes(state, 1);
        let pattern = raw::check_bytes(state, 2);
        let kind = ffi::lua_type(state, 3);
        let max = ffi::luaL_optinteger(state, 4, subject.len() as ffi::lua_Integer + 1);
        if !matches!(
            kind,
            ffi::LUA_TNUMBER | ffi::LUA_TSTRING | ffi::LUA_TFUNCTION | ffi::LUA_TTABLE
        ) {
            raw::type_error(state, 3, c"string/function/table");
        }
        let template = match kind {
            ffi::LUA_TNUMBER | ffi::LUA_TSTRING => raw::bytes_at(state, 3),
            _ => &[],
        };
        let budget = budget(state, 1);
        let (anchored, body) = split_anchor(pattern);
        let mut m = Matcher::new(subject, body);
        let mut buffer = MaybeUninit::<ffi::luaL_Buffer>::uninit();
        let b = buffer.as_mut_ptr();
        ffi::luaL_buffinit(state, b);
        let (mut from, mut copied, mut last, mut count) = (0, 0, None, 0);
        while count < max {
            let (start, end) = match metered(budget, &mut m, |m| m.search(from, anchored, last)) {
                Ok(Some(found)) => found,
                Ok(None) => break,
                Err(error) => fail(state, budget, error),
            };
            count += 1;
            raw::add_bytes(b, &subject[copied..start]);
            let replace = Replace {
                state,
                budget,
                matcher: &m,
                whole: (start, end),
                buffer: b,
            };
            match kind {
                ffi::LUA_TFUNCTION | ffi::LUA_TTABLE => replace.with_value(kind),
                _ => replace.with_template(template),
            }
            (from, copied, last) = (end, end, Some(end));
            if anchored {
                break;
            }
        }
        raw::add_bytes(b, &subject[copied..]);
        ffi::luaL_pushresult(b);
        ffi::lua_pushinteger(state, count);
        2
    }
}

/// One replacement of `gsub`: what replaces the match `whole`.
struct Replace<'a, 'm> {
    state: State,
    budget: &'a Budget,
    matcher: &'a Matcher<'m>,
    whole: (usize, usize),
    buffer: *mut ffi::luaL_Buffer,
}

impl Replace<'_, '_> {
    /// A replacement string: `%0` is the whole match, `%1`-`%9` the
    /// captures (a position capture as its number), `%%` a `%`; any other
    /// `%` is an error.
    ///
    /// # Safety
    /// As in `gsub`.
    unsafe fn with_template(&self, template: &[u8]) {
        let mut rest = template;
        // SAFETY: the caller's contract.
        unsafe {
            while let Some(at) = memchr::memchr(b'%', rest) {
                raw::add_bytes(self.buffer, &rest[..at]);
                match rest.get(at + 1).copied() {
                    Some(b'%') => raw::add_bytes(self.buffer, b"%"),
                    Some(b'0') => raw::add_bytes(self.buffer, self.whole_text()),
                    Some(digit @ b'1'..=b'9') => {
                        match self.matcher.capture(usize::from(digit - b'1'), self.whole) {
                            Ok(Captured::Text(text)) => raw::add_bytes(self.buffer, text),
                            Ok(Captured::Position(position)) => {
                                let mut number = Message::new();
                                let _ = write!(number, "{position}");
                                raw::add_bytes(self.buffer, number.as_bytes());
                            }
                            Err(error) => fail(self.state, self.budget, error),
                        }
                    }
                    _ => {
                        let mut message = Message::new();
                        let _ = write!(message, "invalid use of '%' in replacement string");
                        raw::raise(self.state, &message);
                    }
                }
                rest = &rest[at + 2..];
            }
            raw::add_bytes(self.buffer, rest);
        }
    }

    /// A replacement table (indexed by the first capture) or function
    /// (called with all captures): false or nil keeps the match, a string
    /// or number replaces it, anything else is an error.
    ///
    /// # Safety
    /// As in `gsub`; slot 3 holds the table or function.
    unsafe fn with_value(&self, kind: c_int) {
        let state = self.state;
        // SAFETY: the caller's contract. The value pushed is consumed
        // before returning: popped, or moved into the buffer.
        unsafe {
            if kind == ffi::LUA_TFUNCTION {
                ffi::lua_pushvalue(state, 3);
                let n = push_captures(state, self.budget, self.matcher, self.whole, true);
                ffi::lua_call(state, n, 1);
            } else {
                push_capture(state, self.budget, self.matcher, 0, self.whole);
                ffi::lua_gettable(state, 3);
            }
            if ffi::lua_toboolean(state, -1) == 0 {
                ffi::lua_settop(state, -2);
                raw::add_bytes(self.buffer, self.whole_text());
            } else if ffi::lua_isstring(state, -1) == 0 {
                let mut message = Message::new();
                let _ = write!(
                    message,
                    "invalid replacement value (a {})",
                    raw::type_name(state, -1)
                );
                raw::raise(state, &message);
            } else {
                ffi::luaL_addvalue(self.buffer);
            }
        }
    }

    /// The match's text, unchanged.
    fn whole_text(&self) -> &[u8] {
        &self.matcher.subject()[self.whole.0..self.whole.1]
    }
}
