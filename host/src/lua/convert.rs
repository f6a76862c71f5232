//! JSON payloads to Lua tables and back.
//!
//! Events arrive as JSON text; [`json_to_lua`] builds the Lua table from
//! the text without an intermediate `serde_json::Value`.

use mlua::serde::{de::Options as DeserializeOptions, ser::Options as SerializeOptions};
use mlua::{Lua, LuaSerdeExt};
use serde_json::Value;

/// JSON `null` becomes `nil`, which is what a rule writer expects to test.
pub fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    lua.to_value_with(
        value,
        SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false),
    )
}

/// Parses JSON text into a Lua value (see [`super::tape`] for why not
/// through mlua's serde support).
pub fn json_to_lua(lua: &Lua, json: &str) -> mlua::Result<mlua::Value> {
    let tape = super::tape::Tape::parse(json).map_err(|e| mlua::Error::runtime(e.to_string()))?;
    tape.to_lua(lua)
}

/// Functions, coroutines and userdata cannot leave the script: an error
/// names the problem rather than silently dropping data.
pub fn from_lua(lua: &Lua, value: mlua::Value) -> mlua::Result<Value> {
    if value.is_nil() {
        return Ok(Value::Object(Default::default()));
    }
    lua.from_value_with(value, DeserializeOptions::new().deny_recursive_tables(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let lua = Lua::new();
        let v =
            json!({"a": 1, "b": [1, 2, {"c": "x"}], "d": true, "e": 1.5, "f": [], "g": "ü\"\\n"});
        let back = from_lua(&lua, to_lua(&lua, &v).unwrap()).unwrap();
        assert_eq!(back, v);
        let parsed = from_lua(&lua, json_to_lua(&lua, &v.to_string()).unwrap()).unwrap();
        assert_eq!(parsed, v);
    }

    #[test]
    fn null_is_nil_in_lua() {
        let lua = Lua::new();
        let t = json_to_lua(&lua, r#"{"show": null}"#).unwrap();
        lua.globals().set("t", t).unwrap();
        let is_nil: bool = lua.load("return t.show == nil").eval().unwrap();
        assert!(is_nil);
    }

    #[test]
    fn bad_json_is_an_error() {
        let lua = Lua::new();
        assert!(json_to_lua(&lua, "{nope").is_err());
        assert!(json_to_lua(&lua, "{} trailing").is_err());
    }

    #[test]
    fn functions_cannot_be_sent() {
        let lua = Lua::new();
        let v: mlua::Value = lua.load("return {f = function() end}").eval().unwrap();
        assert!(from_lua(&lua, v).is_err());
    }

    #[test]
    fn empty_table_is_an_object() {
        let lua = Lua::new();
        let v: mlua::Value = lua.load("return {}").eval().unwrap();
        assert_eq!(from_lua(&lua, v).unwrap(), json!({}));
    }
}
