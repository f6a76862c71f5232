//! Payloads: the self-describing value that events and command arguments carry.
//!
//! A payload is JSON text. JSON is stable across compiler and SDK versions,
//! maps one-to-one onto Lua tables and serde types, and is what a rule writer
//! sees in recorded event files, so one representation serves every side.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A self-describing value, as the host and Lua see it.
pub use serde_json::Value;

/// Why a payload could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The value could not be turned into JSON.
    #[error("cannot encode {type_name}: {message}")]
    Encode {
        type_name: &'static str,
        message: String,
    },
    /// The JSON does not fit the expected type; `path` names the field.
    #[error("cannot read {type_name}: at `{path}`: {message}")]
    Decode {
        type_name: &'static str,
        path: String,
        message: String,
    },
    /// The text is not JSON at all.
    #[error("not valid JSON: {0}")]
    Syntax(String),
}

/// JSON text, validated on the way in.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(String);

impl Payload {
    /// The empty object `{}`, the payload of an event or command without data.
    pub fn empty() -> Self {
        Payload("{}".to_owned())
    }

    /// Encodes a serde value.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, PayloadError> {
        serde_json::to_string(value)
            .map(Payload)
            .map_err(|e| PayloadError::Encode {
                type_name: std::any::type_name::<T>(),
                message: e.to_string(),
            })
    }

    /// Checks and wraps JSON text.
    pub fn from_json(text: impl Into<String>) -> Result<Self, PayloadError> {
        let text = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .map_err(|e| PayloadError::Syntax(e.to_string()))?;
        Ok(Payload(text))
    }

    /// Wraps text that already came from a serializer (or through the ABI
    /// from code that validated it); reading it later still reports errors.
    pub(crate) fn from_trusted(text: String) -> Self {
        Payload(text)
    }

    /// Decodes into a serde type; the error names the offending field.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        decode_json(&self.0)
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The JSON text, owned.
    pub fn into_json(self) -> String {
        self.0
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload(value.to_string())
    }
}

/// Decodes JSON text into `T`, naming the field path on failure.
pub(crate) fn decode_json<T: DeserializeOwned>(text: &str) -> Result<T, PayloadError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            PayloadError::Syntax(inner.to_string())
        } else {
            PayloadError::Decode {
                type_name: std::any::type_name::<T>(),
                path,
                message: strip_position(&inner.to_string()),
            }
        }
    })
}

/// serde_json appends " at line L column C", which means nothing to a user
/// whose value came from TOML or Lua.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[test]
    fn decode_error_names_the_field_path() {
        let p = Payload::from_json(r#"{"inner":{"port":"x"}}"#).unwrap();
        let err = p.decode::<Outer>().unwrap_err().to_string();
        assert!(err.contains("`inner.port`"), "{err}");
        assert!(!err.contains("at line"), "{err}");
    }

    #[test]
    fn invalid_json_is_refused() {
        assert!(matches!(
            Payload::from_json("{nope"),
            Err(PayloadError::Syntax(_))
        ));
    }

    #[test]
    fn encode_round_trips() {
        let p = Payload::encode(&serde_json::json!({"a": [1, 2]})).unwrap();
        assert_eq!(p.decode::<Value>().unwrap()["a"][1], 2);
    }
}
