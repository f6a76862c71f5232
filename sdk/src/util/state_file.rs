//! Small JSON files a plugin keeps across restarts of `tandem run` (notes
//! waiting for the user, the last calls): where they go by default and how
//! they are read and written, so that a crash mid-write leaves the old
//! file, never half of one, and a damaged file is set aside for a person
//! to read instead of stopping the plugin.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read {what} in {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} in {path} are damaged ({source}); they were set aside as {aside}")]
    Damaged {
        what: &'static str,
        path: PathBuf,
        aside: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot keep {what} in {path}: {source}")]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `$XDG_STATE_HOME/tandem/<stem>-<account>.json`, else
/// `~/.local/state/tandem/…`; none without either variable. `account` is
/// made safe as a file name (`/` and the like become `_`).
pub fn default_path(stem: &str, account: &str) -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| Path::new(&home).join(".local/state"))
        })?;
    let account: String = account
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(state.join("tandem").join(format!("{stem}-{account}.json")))
}

/// What `path` holds; none when there is no file. A damaged file is
/// renamed to `….json.damaged` and reported. `what` names the contents
/// for the messages ("the notes kept for you").
pub fn load<T: DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<Option<T>, StateFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateFileError::Read {
                what,
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|source| {
        let aside = path.with_extension("json.damaged");
        let _ = std::fs::rename(path, &aside);
        StateFileError::Damaged {
            what,
            path: path.to_owned(),
            aside,
            source,
        }
    })
}

/// Writes `value` to `path` whole: a temporary file beside it, then a
/// rename. Makes the folder when it is missing.
pub fn save<T: Serialize + ?Sized>(
    path: &Path,
    what: &'static str,
    value: &T,
) -> Result<(), StateFileError> {
    let write = |source| StateFileError::Write {
        what,
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| write(std::io::Error::other(e)))?;
    let temporary = path.with_extension("json.new");
    std::fs::write(&temporary, text).map_err(write)?;
    std::fs::rename(&temporary, path).map_err(write)
}

/// Removes `path`; a file already gone is fine.
pub fn remove(path: &Path, what: &'static str) -> Result<(), StateFileError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateFileError::Write {
            what,
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_saved_is_loaded_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/tandem/x-a@b.json");
        assert_eq!(load::<Vec<u32>>(&path, "numbers").unwrap(), None);
        save(&path, "numbers", &[1, 2, 3]).unwrap();
        assert_eq!(
            load::<Vec<u32>>(&path, "numbers").unwrap(),
            Some(vec![1, 2, 3])
        );
        remove(&path, "numbers").unwrap();
        remove(&path, "numbers").unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.json");
        std::fs::write(&path, "[{\"id\": ").unwrap();
        let err = load::<Vec<u32>>(&path, "the notes kept for you").unwrap_err();
        assert!(
            err.to_string().starts_with("the notes kept for you in ")
                && err.to_string().contains("damaged"),
            "{err}"
        );
        assert!(!path.exists());
        assert!(dir.path().join("notes.json.damaged").exists());
    }

    #[test]
    fn the_default_place_is_per_account_and_safe_as_a_file_name() {
        if let Some(path) = default_path("notes", "alice@example.org/../x") {
            assert_eq!(
                path.file_name().unwrap(),
                "notes-alice@example.org_.._x.json"
            );
        }
    }
}
