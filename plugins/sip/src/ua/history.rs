//! The last calls that ended, for `sip.calls`: one list kept where the
//! calls are, so `tandem ctl calls`, the chat word and the ad-hoc command
//! all read the same thing and a rule reloaded does not forget it.
//!
//! The list is also kept on disk (a small JSON file, rewritten whole
//! through a temporary file and a rename), so a restart of `tandem run`
//! does not forget who called: a missed call is exactly what a person
//! looks up after coming back.
//!
//! The file is written by a task of its own (`keep_saved`), not by the
//! call that ended: the first call after a quiet spell is written at once,
//! then at most one write per `SAVE_EVERY` holds whatever ended meanwhile.
//! Written per call, under 1,000 calls/s the file took a sixth of the
//! plugin's CPU (decision 0073); the plugin's stop writes what is left.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_sdk::commands::sip::PastCall;
use tandem_sdk::tokio;
use tandem_sdk::util::state_file::{self, StateFileError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How many ended calls are kept.
pub const KEPT: usize = 20;

/// The shortest time between two writes of the file.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What the file holds, for its messages.
const WHAT: &str = "the recent calls";

#[derive(Default)]
pub struct History {
    ended: Mutex<VecDeque<PastCall>>,
    /// Where the list is kept across restarts (none: in memory only).
    path: Option<PathBuf>,
    /// A call ended since the file was last written.
    unsaved: AtomicBool,
    /// Wakes `keep_saved` when a call ends.
    changed: Notify,
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
            ..History::default()
        };
        (history, problem)
    }

    /// The default file: `$XDG_STATE_HOME/tandem/calls-<account>.json`.
    pub fn default_path(account: &str) -> Option<PathBuf> {
        state_file::default_path("calls", account)
    }

    /// Adds a call that ended; the oldest goes once `KEPT` are kept. The
    /// file follows (`keep_saved`); the list in memory is right at once,
    /// even when the file cannot be written.
    pub fn push(&self, call: PastCall) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.push_back(call);
        while ended.len() > KEPT {
            ended.pop_front();
        }
        drop(ended);
        self.unsaved.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Writes the list to its file if a call ended since the last write.
    /// A write that fails is not tried again until the next call ends (its
    /// error is logged once, not every second).
    pub fn save(&self) -> Result<(), StateFileError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.unsaved.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
        state_file::save(path, WHAT, &ended)
    }

    /// Writes the file after each call that ends, at most once `every`
    /// (`SAVE_EVERY`), until `cancel`; the plugin's stop calls `save` for
    /// the calls it ended last.
    pub async fn keep_saved(self: Arc<Self>, every: Duration, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = self.changed.notified() => {}
                () = cancel.cancelled() => return,
            }
            let history = self.clone();
            match tokio::task::spawn_blocking(move || history.save()).await {
                Ok(Err(e)) => log::warn!("{e}"),
                Err(e) => log::warn!("writing {WHAT} stopped: {e}"),
                Ok(Ok(())) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = cancel.cancelled() => return,
            }
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
            history.push(call(n));
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
            before.push(call(n));
        }
        before.save().unwrap();
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
        history.push(call(1));
        history.save().unwrap();
        assert!(path.exists());
    }

    /// The calls in the file at `path`, newest first (none yet: empty).
    fn in_file(path: &std::path::Path) -> Vec<String> {
        let (kept, _) = History::kept_at(Some(path.to_owned()));
        kept.newest_first().into_iter().map(|c| c.call).collect()
    }

    /// The calls in the file once it holds `want` of them (5 s at most).
    async fn until_in_file(path: &std::path::Path, want: usize) -> Vec<String> {
        for _ in 0..100 {
            let kept = in_file(path);
            if kept.len() == want {
                return kept;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the file never held {want} calls: {:?}", in_file(path));
    }

    /// A list kept in a temporary folder, its saver running every `every`.
    struct Saving {
        _dir: tempfile::TempDir,
        path: PathBuf,
        history: Arc<History>,
        cancel: CancellationToken,
        saver: tokio::task::JoinHandle<()>,
    }

    impl Saving {
        fn start(every: Duration) -> Saving {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("calls.json");
            let history = Arc::new(History::kept_at(Some(path.clone())).0);
            let cancel = CancellationToken::new();
            let saver = tokio::spawn(history.clone().keep_saved(every, cancel.clone()));
            Saving {
                _dir: dir,
                path,
                history,
                cancel,
                saver,
            }
        }

        async fn stop(&mut self) {
            self.cancel.cancel();
            (&mut self.saver).await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_first_call_is_written_at_once_the_next_wait() {
        // An hour between writes: what is in the file does not hang on
        // how fast this machine runs the test.
        let mut saving = Saving::start(Duration::from_secs(3600));
        let (history, path) = (saving.history.clone(), saving.path.clone());
        // The first call after a quiet spell is written at once…
        history.push(call(1));
        assert_eq!(until_in_file(&path, 1).await, ["1"]);
        // …those ending soon after wait for the next write, here the
        // plugin's stop.
        history.push(call(2));
        history.push(call(3));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(in_file(&path), ["1"], "a write per call again");
        saving.stop().await;
        history.save().unwrap();
        assert_eq!(in_file(&path), ["3", "2", "1"]);
    }

    #[tokio::test]
    async fn calls_ending_together_are_written_after_the_wait() {
        let mut saving = Saving::start(Duration::from_millis(20));
        for n in 1..=3 {
            saving.history.push(call(n));
        }
        assert_eq!(until_in_file(&saving.path, 3).await, ["3", "2", "1"]);
        saving.stop().await;
    }

    #[test]
    fn the_stop_writes_what_the_saver_had_not_yet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.json");
        let (history, _) = History::kept_at(Some(path.clone()));
        history.push(call(7));
        assert!(in_file(&path).is_empty());
        history.save().unwrap();
        assert_eq!(in_file(&path), ["7"]);
        // Nothing new: no write (the file's time stays).
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        history.save().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );
    }
}
