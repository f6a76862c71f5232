//! The last calls that ended, for `sip.calls`: one list kept where the
//! calls are, so `tandem ctl calls`, the chat word and the ad-hoc command
//! all read the same thing and a rule reloaded does not forget it.

use std::collections::VecDeque;
use std::sync::Mutex;

use tandem_sdk::commands::sip::PastCall;

/// How many ended calls are kept.
pub const KEPT: usize = 20;

#[derive(Default)]
pub struct History {
    ended: Mutex<VecDeque<PastCall>>,
}

impl History {
    /// Adds a call that ended; the oldest goes once `KEPT` are kept.
    pub fn push(&self, call: PastCall) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.push_back(call);
        while ended.len() > KEPT {
            ended.pop_front();
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

    #[test]
    fn keeps_the_last_twenty_newest_first() {
        let history = History::default();
        for n in 0..25 {
            history.push(PastCall {
                call: n.to_string(),
                ..Default::default()
            });
        }
        let kept: Vec<String> = history.newest_first().into_iter().map(|c| c.call).collect();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept.first().map(String::as_str), Some("24"));
        assert_eq!(kept.last().map(String::as_str), Some("5"));
    }
}
