//! The last calls that ended, for `sip.calls`: one list kept where the
//! calls are, so `tandem ctl calls`, the chat word and the ad-hoc command
//! all read the same thing and a rule reloaded does not forget it.
//!
//! The list is also kept on disk (a small JSON file, rewritten whole
//! through a temporary file and a rename after each call), so a restart
//! of `tandem run` does not forget who called: a missed call is exactly
//! what a person looks up after coming back.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use tandem_sdk::commands::sip::PastCall;
use tandem_sdk::util::state_file::{self, StateFileError};

/// How many ended calls are kept.
pub const KEPT: usize = 20;

/// What the file holds, for its messages.
const WHAT: &str = "the recent calls";

#[derive(Default)]
pub struct History {
    ended: Mutex<VecDeque<PastCall>>,
    /// Where the list is kept across restarts (none: in memory only).
    path: Option<PathBuf>,
}

impl History {
    /// The list kept at `path` before, or an empty one; a file that cannot
    /// be read starts an empty list, with the reason to log.
    pub fn kept_at(path: Option<PathBuf>) -> (History, Option<StateFileError>) {
        let (mut ended, problem) = match path.as_deref().map(|p| state_file::load(p, WHAT)) {
            Some(Ok(calls)) => (calls.unwrap_or_default(), None),
            Some(Err(e)) => (VecDeque::new(), Some(e)),
            None => (VecDeque::new(), None),
        };
        while ended.len() > KEPT {
            ended.pop_front();
        }
        let history = History {
            ended: Mutex::new(ended),
            path,
        };
        (history, problem)
    }

    /// The default file: `$XDG_STATE_HOME/tandem/calls-<account>.json`.
    pub fn default_path(account: &str) -> Option<PathBuf> {
        state_file::default_path("calls", account)
    }

    /// Adds a call that ended; the oldest goes once `KEPT` are kept. The
    /// list in memory is right even when the file cannot be written.
    pub fn push(&self, call: PastCall) -> Result<(), StateFileError> {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.push_back(call);
        while ended.len() > KEPT {
            ended.pop_front();
        }
        match &self.path {
            Some(path) => state_file::save(path, WHAT, &*ended),
            None => Ok(()),
        }
    }

    /// The calls kept, newest first.
    pub fn newest_first(&self) -> Vec<PastCall> {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: usize) -> PastCall {
        PastCall {
            call: n.to_string(),
            peer: format!("sip:caller{n}@example.org"),
            started: 1_700_000_000 + n as u64,
            ..Default::default()
        }
    }

    #[test]
    fn keeps_the_last_twenty_newest_first() {
        let history = History::default();
        for n in 0..25 {
            history.push(call(n)).unwrap();
        }
        let kept: Vec<String> = history.newest_first().into_iter().map(|c| c.call).collect();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept.first().map(String::as_str), Some("24"));
        assert_eq!(kept.last().map(String::as_str), Some("5"));
    }

    #[test]
    fn a_restart_finds_the_calls_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/tandem/calls-alice@example.org.json");
        let (before, problem) = History::kept_at(Some(path.clone()));
        assert!(problem.is_none());
        for n in 0..22 {
            before.push(call(n)).unwrap();
        }
        let (after, problem) = History::kept_at(Some(path));
        assert!(problem.is_none(), "{problem:?}");
        assert_eq!(after.newest_first(), before.newest_first());
        assert_eq!(after.newest_first().len(), KEPT);
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_a_new_list_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.json");
        std::fs::write(&path, "{ not json").unwrap();
        let (history, problem) = History::kept_at(Some(path.clone()));
        let problem = problem.expect("the damage is reported");
        assert!(problem.to_string().contains("set aside"), "{problem}");
        assert!(history.newest_first().is_empty());
        assert!(dir.path().join("calls.json.damaged").exists());
        history.push(call(1)).unwrap();
        assert!(path.exists());
    }
}
