//! Helpers over Lua's C API for the pattern functions: arguments, results,
//! errors.
//!
//! The pattern functions are raw C functions (the module above says why),
//! so the C API's rules hold here. The one to keep in mind: a Lua error is
//! a `longjmp` that skips every frame up to the enclosing protected call,
//! Rust frames included, without running destructors. So no frame of
//! these functions may own anything with a destructor while it calls into
//! Lua, and any Lua call may raise (a memory error while pushing a string,
//! a metamethod, a `gsub` replacement function). Error messages are
//! therefore formatted into [`Message`], a fixed buffer on the stack.

use std::ffi::{c_int, CStr};
use std::fmt;

use mlua::ffi;

pub(super) type State = *mut ffi::lua_State;

/// An error message, formatted without allocating (long ones are cut).
pub(super) struct Message {
    buf: [u8; 192],
    len: usize,
}

impl Message {
    pub fn new() -> Message {
        Message {
            buf: [0; 192],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Argument `arg` of the running function as bytes, or Lua's "bad
/// argument" error. A number is converted to a string in its stack slot,
/// as Lua's own string functions do.
///
/// # Safety
/// Inside a C function called by Lua. The bytes live as long as the
/// value stays in that stack slot (`'a` is the caller's to keep honest:
/// the slot must not be overwritten or popped while they are in use).
pub(super) unsafe fn check_bytes<'a>(state: State, arg: c_int) -> &'a [u8] {
    // SAFETY: the caller's contract; luaL_checklstring returns a pointer
    // to `len` bytes owned by the string in the slot.
    unsafe {
        let mut len = 0;
        let ptr = ffi::luaL_checklstring(state, arg, &mut len);
        std::slice::from_raw_parts(ptr.cast(), len)
    }
}

/// The string (or number, converted in place) at `index` as bytes.
///
/// # Safety
/// As [`check_bytes`]; the value at `index` must be a string or a number.
pub(super) unsafe fn bytes_at<'a>(state: State, index: c_int) -> &'a [u8] {
    // SAFETY: the caller's contract.
    unsafe {
        let mut len = 0;
        let ptr = ffi::lua_tolstring(state, index, &mut len);
        std::slice::from_raw_parts(ptr.cast(), len)
    }
}

/// Pushes `bytes` as a Lua string.
///
/// # Safety
/// Inside a C function called by Lua, with a free stack slot. May raise a
/// memory error.
pub(super) unsafe fn push_bytes(state: State, bytes: &[u8]) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
    }
}

/// Adds `bytes` to the buffer `b`.
///
/// # Safety
/// `b` was initialised by `luaL_buffinit` on this state, and the stack is
/// as the buffer left it. May raise a memory error.
pub(super) unsafe fn add_bytes(b: *mut ffi::luaL_Buffer, bytes: &[u8]) {
    if !bytes.is_empty() {
        // SAFETY: the caller's contract.
        unsafe { ffi::luaL_addlstring(b, bytes.as_ptr().cast(), bytes.len()) }
    }
}

/// Raises `message` as Lua's `luaL_error` does: a string, prefixed with
/// the place of the Lua code that called the running function (nothing
/// when that caller is a C function such as `pcall`).
///
/// # Safety
/// Inside a C function called by Lua; no frame up to the enclosing
/// protected call owns anything with a destructor.
pub(super) unsafe fn raise(state: State, message: &Message) -> ! {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::luaL_where(state, 1);
        push_bytes(state, message.as_bytes());
        ffi::lua_concat(state, 2);
        ffi::lua_error(state)
    }
}

/// Lua's error for argument `arg` of the wrong type:
/// "bad argument #3 to 'gsub' (string/function/table expected, got nil)".
///
/// # Safety
/// As [`raise`].
pub(super) unsafe fn type_error(state: State, arg: c_int, expected: &CStr) -> ! {
    // SAFETY: the caller's contract. The type name is a string the state
    // owns (a `__name` metafield, left on the stack) or a static one.
    unsafe {
        let got = if ffi::luaL_getmetafield(state, arg, c"__name".as_ptr()) == ffi::LUA_TSTRING {
            ffi::lua_tolstring(state, -1, std::ptr::null_mut())
        } else if ffi::lua_type(state, arg) == ffi::LUA_TLIGHTUSERDATA {
            c"light userdata".as_ptr()
        } else {
            ffi::lua_typename(state, ffi::lua_type(state, arg))
        };
        let text = ffi::lua_pushfstring(
            state,
            c"%s expected, got %s".as_ptr(),
            expected.as_ptr(),
            got,
        );
        ffi::luaL_argerror(state, arg, text);
        unreachable!("luaL_argerror raises")
    }
}

/// The name of the type of the value at `index` ("nil", "table", ...).
///
/// # Safety
/// Inside a C function called by Lua.
pub(super) unsafe fn type_name<'a>(state: State, index: c_int) -> &'a str {
    // SAFETY: lua_typename returns a static C string.
    unsafe {
        let name = CStr::from_ptr(ffi::lua_typename(state, ffi::lua_type(state, index)));
        name.to_str().unwrap_or("?")
    }
}

/// `file:line` of the innermost Lua code on the stack above the running
/// function: the line that called `string.find`, possibly through `pcall`.
/// The host's own chunks (`=tandem-prelude`'s `pcall`, `=tandem-api`'s
/// `tandem.settings`) are passed over for the rule's line that called them.
///
/// # Safety
/// Inside a C function called by Lua. Reading frames raises nothing.
pub(super) unsafe fn caller_place(state: State) -> Option<String> {
    // SAFETY: the caller's contract; `ar` is plain data filled by Lua, and
    // `source` and `short_src` are NUL-terminated.
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        let mut level = 1;
        let mut host_place = None;
        while ffi::lua_getstack(state, level, &mut ar) != 0 {
            level += 1;
            ffi::lua_getinfo(state, c"Sl".as_ptr(), &mut ar);
            if ar.currentline <= 0 {
                continue;
            }
            let src = CStr::from_ptr(ar.short_src.as_ptr()).to_string_lossy();
            let place = format!("{src}:{}", ar.currentline);
            if CStr::from_ptr(ar.source)
                .to_bytes()
                .starts_with(b"=tandem-")
            {
                host_place.get_or_insert(place);
            } else {
                return Some(place);
            }
        }
        host_place
    }
}
