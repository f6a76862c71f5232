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
use tandem_sdk::util::state_file::{self, StateFileError};

/// What the file holds, for its messages.
const WHAT: &str = "the notes kept for you";

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
        state_file::default_path("notes", jid)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The notes kept before; none when there is no file. A damaged file
    /// is renamed aside (kept for a person to read) and reported.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Vec<T>, StateFileError> {
        match &self.path {
            Some(path) => Ok(state_file::load(path, WHAT)?.unwrap_or_default()),
            None => Ok(Vec::new()),
        }
    }

    /// Keeps exactly `notes` (removes the file when there are none).
    pub fn save<'a, T: Serialize + 'a>(
        &self,
        notes: impl IntoIterator<Item = &'a T>,
    ) -> Result<(), StateFileError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let notes: Vec<&T> = notes.into_iter().collect();
        if notes.is_empty() {
            return state_file::remove(path, WHAT);
        }
        state_file::save(path, WHAT, &notes)
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
}
