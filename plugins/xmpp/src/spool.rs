//! Notes for the user that wait on disk while none of their clients is
//! online, so that a SIP message Tandem answered 200 for, or a missed call,
//! survives a restart of `tandem run` (the queue in memory would not).
//!
//! One small JSON file per account (at most the offline queue's length of
//! notes), rewritten whole through a temporary file and a rename, so a
//! crash mid-write leaves the old file, never half of one.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot read the notes kept for you in {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the notes kept for you in {path} are damaged ({source}); they were set aside as {aside}"
    )]
    Damaged {
        path: PathBuf,
        aside: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot keep the notes for you in {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where an account's notes wait (none: in memory only).
#[derive(Debug, Clone)]
pub struct Spool {
    path: Option<PathBuf>,
}

impl Spool {
    pub fn at(path: Option<PathBuf>) -> Spool {
        Spool { path }
    }

    /// The default place: `$XDG_STATE_HOME/tandem/notes-<jid>.json`, else
    /// `~/.local/state/tandem/…`; none without either variable.
    pub fn default_path(jid: &str) -> Option<PathBuf> {
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|home| Path::new(&home).join(".local/state"))
            })?;
        let name: String = jid
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "@.-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Some(state.join("tandem").join(format!("notes-{name}.json")))
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The notes kept before; none when there is no file. A damaged file
    /// is renamed aside (kept for a person to read) and reported.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Vec<T>, SpoolError> {
        let Some(path) = &self.path else {
            return Ok(Vec::new());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SpoolError::Read {
                    path: path.clone(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|source| {
            let aside = path.with_extension("json.damaged");
            let _ = std::fs::rename(path, &aside);
            SpoolError::Damaged {
                path: path.clone(),
                aside,
                source,
            }
        })
    }

    /// Keeps exactly `notes` (removes the file when there are none).
    pub fn save<'a, T: Serialize + 'a>(
        &self,
        notes: impl IntoIterator<Item = &'a T>,
    ) -> Result<(), SpoolError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let notes: Vec<&T> = notes.into_iter().collect();
        let write = |e| SpoolError::Write {
            path: path.clone(),
            source: e,
        };
        if notes.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(write(e)),
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let text = serde_json::to_string_pretty(&notes).expect("notes are plain strings");
        let temporary = path.with_extension("json.new");
        std::fs::write(&temporary, text).map_err(write)?;
        std::fs::rename(&temporary, path).map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Spooled {
        id: String,
        text: String,
        thread: Option<String>,
    }

    fn note(id: &str) -> Spooled {
        Spooled {
            id: id.into(),
            text: format!("text of {id}"),
            thread: Some("t".into()),
        }
    }

    #[test]
    fn notes_survive_and_an_empty_queue_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::at(Some(dir.path().join("state/tandem/notes-a@b.json")));
        assert!(spool.load::<Spooled>().unwrap().is_empty());
        spool.save(&[note("1"), note("2")]).unwrap();
        assert_eq!(spool.load::<Spooled>().unwrap(), [note("1"), note("2")]);
        spool.save::<Spooled>(&[]).unwrap();
        assert!(!spool.path().unwrap().exists());
        assert!(spool.load::<Spooled>().unwrap().is_empty());
        Spool::at(None).save(&[note("x")]).unwrap();
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.json");
        std::fs::write(&path, "[{\"id\": ").unwrap();
        let err = Spool::at(Some(path.clone())).load::<Spooled>().unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert!(!path.exists());
        assert!(dir.path().join("notes.json.damaged").exists());
    }

    #[test]
    fn the_default_place_is_per_account_and_safe_as_a_file_name() {
        let path = Spool::default_path("alice@example.org/../x").unwrap_or_default();
        if let Some(name) = path.file_name() {
            assert_eq!(name, "notes-alice@example.org_.._x.json");
        }
    }
}
