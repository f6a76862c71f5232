//! Secret references in plugin and script sections.
//!
//! A key ending in `_file` names a file whose content (trailing newline
//! removed) becomes the value of the key without the suffix; `_env` names an
//! environment variable. `password_file = "sip.pass"` gives the plugin
//! `password = "<content>"`. Ordinary paths must therefore not end in
//! `_file`: call them `_path`. Secret values are never logged or printed;
//! only the key names are.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("key `{key}`: cannot read secret file {path}: {message}")]
    File {
        key: String,
        path: PathBuf,
        message: String,
    },
    #[error("key `{key}`: environment variable {var} is not set")]
    Env { key: String, var: String },
    #[error("key `{key}`: expected a string (a file name or a variable name)")]
    NotAString { key: String },
    #[error("keys `{key}` and `{reference}` both set the same secret: keep one")]
    Both { key: String, reference: String },
}

/// Whether the last part of a dotted key names a secret (`password`,
/// `sip_password`, `secret`, `api_token`, ...), whose value is text even
/// when it looks like a number.
pub fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    ["password", "secret", "token"]
        .iter()
        .any(|word| last == *word || last.ends_with(&format!("_{word}")))
}

/// Resolves every `*_file` / `*_env` key of `table` (recursively).
pub fn resolve(
    table: &mut Map<String, Value>,
    prefix: &str,
    base: &Path,
) -> Result<(), SecretError> {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let full = format!("{prefix}.{key}");
        if let Some(Value::Object(inner)) = table.get_mut(&key) {
            resolve(inner, &full, base)?;
            continue;
        }
        let (target, secret) = if let Some(target) = key.strip_suffix("_file") {
            let name = as_str(table, &key, &full)?;
            let path = base.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| SecretError::File {
                key: full.clone(),
                path: path.clone(),
                message: e.to_string(),
            })?;
            (
                target.to_owned(),
                text.trim_end_matches(['\r', '\n']).to_owned(),
            )
        } else if let Some(target) = key.strip_suffix("_env") {
            let var = as_str(table, &key, &full)?;
            let value = std::env::var(&var).map_err(|_| SecretError::Env {
                key: full.clone(),
                var: var.clone(),
            })?;
            (target.to_owned(), value)
        } else {
            continue;
        };
        if target.is_empty() {
            continue;
        }
        if table.contains_key(&target) {
            return Err(SecretError::Both {
                key: format!("{prefix}.{target}"),
                reference: full,
            });
        }
        table.remove(&key);
        table.insert(target, Value::String(secret));
    }
    Ok(())
}

fn as_str(table: &Map<String, Value>, key: &str, full: &str) -> Result<String, SecretError> {
    table
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SecretError::NotAString {
            key: full.to_owned(),
        })
}
