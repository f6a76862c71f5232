//! JSON payloads to Lua tables and back.

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
        let v = json!({"a": 1, "b": [1, 2, {"c": "x"}], "d": true, "e": 1.5});
        let back = from_lua(&lua, to_lua(&lua, &v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn null_is_nil_in_lua() {
        let lua = Lua::new();
        let t = to_lua(&lua, &json!({"show": null})).unwrap();
        lua.globals().set("t", t).unwrap();
        let is_nil: bool = lua.load("return t.show == nil").eval().unwrap();
        assert!(is_nil);
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
