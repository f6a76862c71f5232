//! What the SIP plugin says of each session a direct transfer waits on:
//! `sip.session.answered` and `sip.session.ended` come as events, while a
//! task waits in its own time; each task watches its session here.
//! An event may arrive before the task that waits for it has the session
//! id (the id comes back in `sip.session.offer`'s answer, the event on
//! another path), so a few events for sessions nobody watches yet are
//! kept until one does.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tandem_sdk::events::sip::EndReason;
use tokio::sync::watch;

/// Events kept for sessions nobody watches (yet).
const EARLY: usize = 32;

/// Where a session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Offered, not answered.
    Waiting,
    /// The peer took our offer; its answer's SDP.
    Answered(String),
    /// Over, either way.
    Ended {
        reason: EndReason,
        code: Option<u16>,
    },
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    watched: HashMap<String, watch::Sender<State>>,
    early: VecDeque<(String, State)>,
}

impl Sessions {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows `session` from now on (with what came early, if anything).
    pub fn watch(&self, session: &str) -> watch::Receiver<State> {
        let mut inner = self.inner();
        if let Some(tx) = inner.watched.get(session) {
            return tx.subscribe();
        }
        let mut state = State::Waiting;
        while let Some(i) = inner.early.iter().position(|(s, _)| s == session) {
            if let Some((_, early)) = inner.early.remove(i) {
                state = early;
            }
        }
        let (tx, rx) = watch::channel(state);
        inner.watched.insert(session.to_owned(), tx);
        rx
    }

    /// What the SIP plugin said of `session`.
    pub fn update(&self, session: &str, state: State) {
        let mut inner = self.inner();
        if let Some(tx) = inner.watched.get(session) {
            tx.send_replace(state);
            return;
        }
        if inner.early.len() >= EARLY {
            inner.early.pop_front();
        }
        inner.early.push_back((session.to_owned(), state));
    }

    /// Nobody waits on `session` any more.
    pub fn forget(&self, session: &str) {
        self.inner().watched.remove(session);
    }
}

/// Waits until `rx` says the session ended; its reason and code.
pub async fn ended(rx: &mut watch::Receiver<State>) -> (EndReason, Option<u16>) {
    loop {
        if let State::Ended { reason, code } = &*rx.borrow_and_update() {
            return (reason.clone(), *code);
        }
        if rx.changed().await.is_err() {
            // Forgotten: nothing more will be said of it.
            return (EndReason::Failed, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_before_the_watch_is_not_lost() {
        let sessions = Sessions::default();
        sessions.update("s1", State::Answered("v=0".into()));
        let rx = sessions.watch("s1");
        assert_eq!(*rx.borrow(), State::Answered("v=0".into()));
        let mut rx2 = sessions.watch("s2");
        assert_eq!(*rx2.borrow(), State::Waiting);
        sessions.update(
            "s2",
            State::Ended {
                reason: EndReason::RemoteHangup,
                code: None,
            },
        );
        assert_eq!(ended(&mut rx2).await, (EndReason::RemoteHangup, None));
        // Bounded: a flood of events for nobody's sessions keeps the last few.
        for i in 0..100 {
            sessions.update(&format!("x{i}"), State::Waiting);
        }
        assert_eq!(sessions.inner().early.len(), EARLY);
    }
}
