//! JSON payloads to Lua tables and back.
//!
//! Events arrive as JSON text; [`json_to_lua`] builds the Lua table straight
//! from the text (a serde visitor), with no intermediate `serde_json::Value`:
//! this is the hot path of every rule.

use std::fmt;

use mlua::serde::{de::Options as DeserializeOptions, ser::Options as SerializeOptions};
use mlua::{Lua, LuaSerdeExt};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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

/// Parses JSON text straight into a Lua value.
pub fn json_to_lua(lua: &Lua, json: &str) -> mlua::Result<mlua::Value> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = LuaSeed(lua)
        .deserialize(&mut de)
        .map_err(|e| mlua::Error::runtime(format!("payload is not JSON: {e}")))?;
    de.end()
        .map_err(|e| mlua::Error::runtime(format!("payload is not JSON: {e}")))?;
    Ok(value)
}

/// Functions, coroutines and userdata cannot leave the script: an error
/// names the problem rather than silently dropping data.
pub fn from_lua(lua: &Lua, value: mlua::Value) -> mlua::Result<Value> {
    if value.is_nil() {
        return Ok(Value::Object(Default::default()));
    }
    lua.from_value_with(value, DeserializeOptions::new().deny_recursive_tables(true))
}

struct LuaSeed<'a>(&'a Lua);

impl<'de> DeserializeSeed<'de> for LuaSeed<'_> {
    type Value = mlua::Value;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<mlua::Value, D::Error> {
        de.deserialize_any(self)
    }
}

fn lua_err<E: serde::de::Error>(e: mlua::Error) -> E {
    E::custom(e)
}

impl<'de> Visitor<'de> for LuaSeed<'_> {
    type Value = mlua::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<mlua::Value, E> {
        Ok(mlua::Value::Nil)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<mlua::Value, E> {
        Ok(mlua::Value::Boolean(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<mlua::Value, E> {
        Ok(mlua::Value::Integer(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<mlua::Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => mlua::Value::Integer(i),
            Err(_) => mlua::Value::Number(v as f64),
        })
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<mlua::Value, E> {
        Ok(mlua::Value::Number(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<mlua::Value, E> {
        self.0
            .create_string(v)
            .map(mlua::Value::String)
            .map_err(lua_err)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<mlua::Value, A::Error> {
        let table = self.0.create_table().map_err(lua_err)?;
        let mut i = 1;
        while let Some(v) = seq.next_element_seed(LuaSeed(self.0))? {
            table.raw_set(i, v).map_err(lua_err)?;
            i += 1;
        }
        table
            .set_metatable(Some(self.0.array_metatable()))
            .map_err(lua_err)?;
        Ok(mlua::Value::Table(table))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<mlua::Value, A::Error> {
        let table = self.0.create_table().map_err(lua_err)?;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value = map.next_value_seed(LuaSeed(self.0))?;
            table.raw_set(key.as_ref(), value).map_err(lua_err)?;
        }
        Ok(mlua::Value::Table(table))
    }
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
