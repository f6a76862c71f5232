//! `tandem ctl calls`: the SIP plugin's `sip.calls` (calls now, the last
//! that ended) as two small tables for a person. The list itself is the
//! plugin's; the chat word and the ad-hoc command word the same answer.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;
use tandem_sdk::commands::sip::{CallInfo, CallList, PastCall};
use tandem_sdk::events::sip::{Direction, EndReason};

/// `sip.calls` as text: the calls now, then the recent ones, newest first.
pub fn render_calls(list: &Value) -> String {
    let list = CallList::deserialize(list).unwrap_or_default();
    let mut out = String::new();
    if list.now.is_empty() {
        out.push_str("no calls now\n");
    } else {
        let _ = writeln!(out, "NOW");
        for c in &list.now {
            let _ = writeln!(
                out,
                "  {:<8} {}  {}",
                now_state(c),
                party(&c.peer, &c.display_name),
                clock(c.duration)
            );
        }
    }
    if list.recent.is_empty() {
        out.push_str("no recent calls\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<16}  {:<8} {:<40} {:>8}  HOW IT ENDED",
        "WHEN", "DIR", "PEER", "DURATION"
    );
    for c in &list.recent {
        let _ = writeln!(
            out,
            "{:<16}  {:<8} {:<40} {:>8}  {}",
            local_time(c.started),
            past_direction(c),
            party(&c.peer, &c.display_name),
            if c.duration > 0.0 {
                clock(c.duration)
            } else {
                "-".to_owned()
            },
            ending(c)
        );
    }
    out
}

/// "Bob <sip:bob@example.org>", or the address alone without a name.
fn party(peer: &str, name: &Option<String>) -> String {
    match name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => format!("{name} <{peer}>"),
        _ => peer.to_owned(),
    }
}

fn now_state(c: &CallInfo) -> &str {
    match (c.state.as_str(), c.direction) {
        ("ringing", _) => "ringing",
        ("calling", _) => "calling",
        ("held", _) => "on hold",
        (_, Direction::Incoming) => "in",
        (_, Direction::Outgoing) => "out",
    }
}

fn past_direction(c: &PastCall) -> &'static str {
    match c.direction {
        _ if c.missed() => "missed",
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
    }
}

/// How a call ended, in words.
fn ending(c: &PastCall) -> String {
    let code = c.code.map(|code| format!(" ({code})")).unwrap_or_default();
    match &c.reason {
        EndReason::Hangup => "you hung up".to_owned(),
        EndReason::RemoteHangup => "they hung up".to_owned(),
        EndReason::Rejected if c.direction == Direction::Incoming => {
            format!("you rejected it{code}")
        }
        EndReason::Rejected => format!("they rejected it{code}"),
        EndReason::Cancelled if c.direction == Direction::Incoming => "they gave up".to_owned(),
        EndReason::Cancelled => "you gave up".to_owned(),
        EndReason::Missed => "nobody answered".to_owned(),
        EndReason::Failed => format!("failed{code}"),
        EndReason::Unknown(other) => format!("{other}{code}"),
    }
}

/// Seconds as "0:42" or "1:02:03".
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

/// Unix seconds as local "YYYY-MM-DD HH:MM".
fn local_time(unix: u64) -> String {
    let t = unix as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value for localtime_r to fill.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the
    // thread-safe form and keeps no pointer to them.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return unix.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_now_and_recent_in_words() {
        let list = json!({
            "now": [{"call": "c9", "peer": "sip:dave@x", "display_name": "Dave",
                     "direction": "incoming", "state": "up", "duration": 75.4}],
            "recent": [
                {"call": "c3", "peer": "sip:carol@y", "direction": "incoming",
                 "reason": "missed", "started": 1_700_000_000u64, "duration": 0},
                {"call": "c2", "peer": "sip:bob@x", "display_name": "Bob", "direction": "outgoing",
                 "reason": "remote_hangup", "started": 1_700_000_000u64, "duration": 42.2},
                {"call": "c1", "peer": "sip:eve@z", "direction": "incoming",
                 "reason": "rejected", "code": 486, "started": 1_700_000_000u64, "duration": 0},
            ]
        });
        let text = render_calls(&list);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NOW", "{text}");
        assert_eq!(lines[1], "  in       Dave <sip:dave@x>  1:15", "{text}");
        assert!(
            lines[3].contains(" missed   sip:carol@y") && lines[3].ends_with("-  nobody answered"),
            "{text}"
        );
        assert!(
            lines[4].contains(" out      Bob <sip:bob@x>")
                && lines[4].ends_with("0:42  they hung up"),
            "{text}"
        );
        assert!(lines[5].ends_with("you rejected it (486)"), "{text}");
        assert_eq!(render_calls(&json!({})), "no calls now\nno recent calls\n");
    }

    #[test]
    fn durations_read_as_a_clock() {
        assert_eq!(clock(0.4), "0:00");
        assert_eq!(clock(62.0), "1:02");
        assert_eq!(clock(3723.0), "1:02:03");
    }
}
