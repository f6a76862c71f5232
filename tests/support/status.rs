//! Waiting on what a running sidecar answers through `tandem ctl --json`
//! (its plugins' status commands, `host.status`) rather than on the wording
//! of its log lines: a log line may be reworded, an answer's fields are the
//! product's interface.
//!
//! Methods on [`Sidecar`] kept apart from `sidecar.rs`, which is being
//! merged with the demo's launcher; they belong there once that is done.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sidecar::Sidecar;

/// How long a wait lasts before the test fails (as `wait_for_log`).
const DEADLINE: Duration = Duration::from_secs(20);
/// Between two asks: each is a `tandem ctl` process, so not too often.
const POLL: Duration = Duration::from_millis(50);

impl Sidecar {
    /// Asks `command` (no arguments) until its answer satisfies `done`,
    /// 20 s at most, then returns that answer. Until the daemon answers
    /// (control socket not up yet, plugin still starting) it asks again.
    /// Past the deadline the test fails with "no {what}", the last answer
    /// and the log.
    pub fn wait_status(&self, command: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let answer = self.call(command, json!({}));
            match &answer {
                Ok(status) if done(status) => return status.clone(),
                _ => assert!(
                    Instant::now() < deadline,
                    "no {what}: {command} answered {answer:?}\n{}",
                    self.log()
                ),
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until `xmpp.status` says the sidecar is online as `jid` (full
    /// JID) after at least `connects` connections (2: it came back after
    /// the first broke). Returns the status.
    pub fn wait_online(&self, jid: &str, connects: u64) -> Value {
        self.wait_status(
            "xmpp.status",
            &format!("xmpp.status online as {jid} (connection {connects})"),
            |s| {
                s["state"] == "online"
                    && s["jid"] == jid
                    && s["connects"].as_u64().is_some_and(|n| n >= connects)
            },
        )
    }

    /// Waits until `host.status` lists the rule `name`: a rule file just
    /// written into the sidecar's script folder has been loaded (its top
    /// level has run and its handlers are in place).
    pub fn wait_rule_loaded(&self, name: &str) -> Value {
        self.wait_status("host.status", &format!("rule {name} loaded"), |s| {
            s["rules"]
                .as_array()
                .is_some_and(|rules| rules.iter().any(|r| r["name"] == name))
        })
    }
}
