//! Event payloads into Lua, fast.
//!
//! Every event handler gets a fresh table built from the payload's JSON
//! text. Building it through mlua's safe API costs one protected call per
//! string and per field, because a script's memory limit means any Lua
//! allocation may fail (and Lua reports failure with a longjmp). That made
//! table building most of a handler's cost.
//!
//! So the payload is parsed once per event into a flat [`Tape`] (plain
//! Rust, no Lua), and each handler's table — with the topic and source
//! strings — is pushed by raw Lua API calls inside *one* protected call
//! (see [`super::start`], which also resumes the handler in it). Inside that call nothing owns memory on the Rust side (the pushing code
//! only reads the tape by reference), so a memory error unwinding through
//! it leaks nothing; it is reported as a normal `mlua::Error`.

use std::borrow::Cow;
use std::fmt;

use mlua::{ffi, Lua, LuaSerdeExt};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One token of a parsed payload. Containers carry their element count and
/// are followed by their elements (objects: key, value, key, value, ...).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Cow<'a, str>),
    Array(u32),
    Object(u32),
}

/// A JSON value, flattened, borrowing its strings from the text when it can.
#[derive(Debug, Default)]
pub struct Tape<'a> {
    toks: Vec<Tok<'a>>,
    /// Whether any array is in it: only then is the array metatable needed.
    has_arrays: bool,
}

/// The payload text is not JSON.
#[derive(Debug, thiserror::Error)]
#[error("payload is not JSON: {0}")]
pub struct NotJson(String);

impl<'a> Tape<'a> {
    /// Parses `json`, which must be one complete JSON value.
    pub fn parse(json: &'a str) -> Result<Tape<'a>, NotJson> {
        let mut toks = Vec::with_capacity(16);
        let mut de = serde_json::Deserializer::from_str(json);
        TapeSeed(&mut toks)
            .deserialize(&mut de)
            .map_err(|e| NotJson(e.to_string()))?;
        de.end().map_err(|e| NotJson(e.to_string()))?;
        let has_arrays = toks.iter().any(|t| matches!(t, Tok::Array(_)));
        Ok(Tape { toks, has_arrays })
    }

    /// The value as a Lua value (arrays get mlua's array metatable, so they
    /// go back to JSON as arrays even when empty).
    pub fn to_lua(&self, lua: &Lua) -> mlua::Result<mlua::Value> {
        let array_mt = self.has_arrays.then(|| lua.array_metatable());
        // SAFETY: `push` keeps the stack balanced (it leaves exactly the one
        // value) and holds no owned Rust data, so a Lua error raised inside
        // it (out of memory) unwinds only through plain frames.
        unsafe {
            lua.exec_raw(array_mt, |state| {
                push(state, &self.toks, &mut 0);
                ffi::lua_remove(state, 1); // the metatable argument (or nil)
            })
        }
    }

    /// The tokens, for [`push`].
    pub(super) fn tokens(&self) -> &[Tok<'a>] {
        &self.toks
    }

    /// Whether [`push`] needs the array metatable.
    pub(super) fn has_arrays(&self) -> bool {
        self.has_arrays
    }
}

/// Pushes the value starting at `toks[*at]` and advances `at` past it.
///
/// # Safety
/// `state` must be a Lua state inside a protected call, with the array
/// metatable at stack index 1 if `toks` holds any array.
pub(super) unsafe fn push(state: *mut ffi::lua_State, toks: &[Tok<'_>], at: &mut usize) {
    let tok = &toks[*at];
    *at += 1;
    // SAFETY (whole body): the caller's contract; each container needs at
    // most three free slots beyond those checked here.
    unsafe {
        ffi::luaL_checkstack(state, 4, c"payload nested too deeply".as_ptr());
        match tok {
            Tok::Null => ffi::lua_pushnil(state),
            Tok::Bool(b) => ffi::lua_pushboolean(state, *b as i32),
            Tok::Int(i) => ffi::lua_pushinteger(state, *i),
            Tok::Num(n) => ffi::lua_pushnumber(state, *n),
            Tok::Str(s) => {
                ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
            }
            Tok::Array(n) => {
                ffi::lua_createtable(state, *n as i32, 0);
                for i in 1..=*n {
                    push(state, toks, at);
                    ffi::lua_rawseti(state, -2, i as ffi::lua_Integer);
                }
                ffi::lua_pushvalue(state, 1);
                ffi::lua_setmetatable(state, -2);
            }
            Tok::Object(n) => {
                ffi::lua_createtable(state, 0, *n as i32);
                for _ in 0..*n {
                    push(state, toks, at); // key
                    push(state, toks, at); // value
                    ffi::lua_rawset(state, -3);
                }
            }
        }
    }
}

struct TapeSeed<'t, 'a>(&'t mut Vec<Tok<'a>>);

impl<'de> DeserializeSeed<'de> for TapeSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TapeSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.push(Tok::Null);
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push(Tok::Bool(v));
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push(Tok::Int(v));
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push(match i64::try_from(v) {
            Ok(i) => Tok::Int(i),
            Err(_) => Tok::Num(v as f64),
        });
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push(Tok::Num(v));
        Ok(())
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push(Tok::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let header = self.0.len();
        self.0.push(Tok::Array(0));
        let mut n = 0u32;
        while seq.next_element_seed(TapeSeed(self.0))?.is_some() {
            n += 1;
        }
        self.0[header] = Tok::Array(n);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let header = self.0.len();
        self.0.push(Tok::Object(0));
        let mut n = 0u32;
        // serde's own `Cow` always allocates; keys rarely hold escapes.
        while let Some(key) = map.next_key_seed(KeySeed)? {
            self.0.push(Tok::Str(key));
            map.next_value_seed(TapeSeed(self.0))?;
            n += 1;
        }
        self.0[header] = Tok::Object(n);
        Ok(())
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_keep_their_shape() {
        let tape = Tape::parse(r#"{"a":[1,{"b":"x\"y"}],"c":null,"d":-2.5,"e":[]}"#).unwrap();
        assert_eq!(
            tape.toks,
            vec![
                Tok::Object(4),
                Tok::Str("a".into()),
                Tok::Array(2),
                Tok::Int(1),
                Tok::Object(1),
                Tok::Str("b".into()),
                Tok::Str("x\"y".into()),
                Tok::Str("c".into()),
                Tok::Null,
                Tok::Str("d".into()),
                Tok::Num(-2.5),
                Tok::Str("e".into()),
                Tok::Array(0),
            ]
        );
    }

    #[test]
    fn keys_are_borrowed_unless_escaped() {
        let tape = Tape::parse(r#"{"plain":1,"esc\u0061ped":2}"#).unwrap();
        assert!(matches!(tape.toks[1], Tok::Str(Cow::Borrowed("plain"))));
        assert!(matches!(&tape.toks[3], Tok::Str(Cow::Owned(k)) if k == "escaped"));
    }

    #[test]
    fn a_memory_error_while_pushing_is_an_error_not_a_crash() {
        let lua = Lua::new();
        let big = format!(
            "[{}]",
            vec!["\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""; 50_000].join(",")
        );
        let tape = Tape::parse(&big).unwrap();
        lua.set_memory_limit(lua.used_memory() + 256 * 1024)
            .unwrap();
        let err = tape.to_lua(&lua).unwrap_err();
        assert!(matches!(err, mlua::Error::MemoryError(_)), "{err:?}");
        // The state is still usable once memory is available again.
        lua.set_memory_limit(0).unwrap();
        assert!(tape.to_lua(&lua).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_by_the_parser() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(Tape::parse(&deep).is_err());
    }
}

#[cfg(test)]
mod arity_tests {
    use crate::lua::script::declared_params;
    use mlua::{Function, Lua};

    #[test]
    fn handlers_get_only_the_strings_they_declare() {
        let lua = Lua::new();
        let arity = |src: &str| {
            let f: Function = lua.load(src).eval().unwrap();
            declared_params(&lua, &f)
        };
        assert_eq!(arity("return function() end"), 0);
        assert_eq!(arity("return function(ev) end"), 1);
        assert_eq!(arity("return function(ev, topic) end"), 2);
        assert_eq!(arity("return function(a, b, c, d) end"), 3);
        assert_eq!(arity("return function(ev, ...) end"), 3);
        assert_eq!(arity("return print"), 3);
    }
}
