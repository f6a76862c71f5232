//! What `tandem ctl` can ask, and how the answers are shown.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{json, Value};
use tandem_sdk::commands::file_transfer::{Cancel, Direction, List, Transfers};
use tandem_sdk::commands::host::{GetStatus, SetRule, Status};
use tandem_sdk::commands::sip::GetCalls;
use tandem_sdk::CommandType;

/// The `tandem ctl` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CtlCommand {
    /// Plugins, rules, calls, connections and dropped-event counters.
    Status,
    /// Place a call.
    Call {
        /// A SIP URI (`sip:bob@example.org`) or address.
        uri: String,
    },
    /// Answer a ringing call (the only one, if no id is given).
    Answer { call: Option<String> },
    /// Reject a ringing call.
    Reject {
        call: Option<String>,
        /// SIP status code to reject with.
        #[arg(long, default_value_t = 486)]
        code: u16,
    },
    /// Hang up a call (the only one, if no id is given).
    Hangup { call: Option<String> },
    /// The calls now and the last 20 that ended: in, out or missed, with
    /// whom, when, how long (the SIP plugin).
    Calls,
    /// The sidecar's current XMPP presence.
    Presence,
    /// Log in to the XMPP server again now, after a refused login
    /// (`xmpp.status` says `auth_failed`) once the cause is fixed.
    Reconnect,
    /// Switch a rule on or off (the presence rule unless --rule is given).
    Rules {
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long, default_value = "on-the-phone")]
        rule: String,
    },
    /// File transfers waiting for an answer or under way: direction,
    /// peer, name, size, progress, state (the file-transfer plugin).
    Transfers,
    /// Stop a file transfer, or turn an offer down, by its id (from
    /// `transfers`).
    CancelTransfer { id: String },
    /// Call any bus command with JSON arguments.
    Send {
        command: String,
        #[arg(default_value = "{}")]
        args: String,
    },
}

/// Optional status providers asked by `tandem ctl status` besides the host;
/// a plugin that is not loaded is simply left out.
pub const PLUGIN_STATUS: [&str; 2] = ["sip.status", "xmpp.status"];

impl CtlCommand {
    /// The bus command and arguments this subcommand sends.
    pub fn request(&self) -> Result<(String, Value), String> {
        let with_call = |call: &Option<String>| match call {
            Some(id) => json!({ "call": id }),
            None => json!({}),
        };
        Ok(match self {
            CtlCommand::Status => (GetStatus::NAME.into(), json!(GetStatus {})),
            CtlCommand::Call { uri } => ("sip.call".into(), json!({ "to": uri })),
            CtlCommand::Answer { call } => ("sip.answer".into(), with_call(call)),
            CtlCommand::Reject { call, code } => {
                let mut args = with_call(call);
                args["code"] = json!(code);
                ("sip.reject".into(), args)
            }
            CtlCommand::Hangup { call } => ("sip.hangup".into(), with_call(call)),
            CtlCommand::Calls => (GetCalls::NAME.into(), json!(GetCalls {})),
            CtlCommand::Presence => ("xmpp.presence".into(), json!({})),
            CtlCommand::Reconnect => ("xmpp.reconnect".into(), json!({})),
            CtlCommand::Rules { state, rule } => (
                SetRule::NAME.into(),
                json!(SetRule {
                    name: rule.clone(),
                    enabled: state == "on",
                }),
            ),
            CtlCommand::Transfers => (List::NAME.into(), json!(List {})),
            CtlCommand::CancelTransfer { id } => {
                (Cancel::NAME.into(), json!(Cancel { id: id.clone() }))
            }
            CtlCommand::Send { command, args } => {
                let args: Value = serde_json::from_str(args)
                    .map_err(|e| format!("the arguments are not JSON: {e}"))?;
                (command.clone(), args)
            }
        })
    }
}

/// `host.status` (plus any plugin status) for a person.
pub fn render_status(host: &Value, plugins: &[(String, Value)]) -> String {
    // Fields a host of another version lacks read as their defaults.
    let host: Status = Status::deserialize(host).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "tandem {}, up {:.0} s", host.version, host.uptime_s);
    for (name, value) in plugins {
        let _ = writeln!(out, "{name}: {}", compact(value));
    }
    let _ = writeln!(out, "plugins:");
    for p in &host.plugins {
        let state = if p.failed { "FAILED" } else { "running" };
        let _ = writeln!(out, "  {:<16} {:<10} {state}", p.id, p.version);
    }
    let _ = writeln!(out, "rules:");
    for r in &host.rules {
        let state = if r.enabled { "on" } else { "off" };
        let _ = writeln!(out, "  {:<16} {state}", r.name);
    }
    let _ = writeln!(out, "events (delivered / dropped):");
    for s in &host.subscribers {
        let _ = writeln!(
            out,
            "  {:<16} {} / {}{}",
            s.name,
            s.delivered,
            s.dropped,
            if s.failed { "  (failed)" } else { "" }
        );
    }
    let lua = &host.lua;
    let _ = writeln!(
        out,
        "lua: {} events handled, {} errors, {} reloads",
        lua.handled, lua.errors, lua.reloads
    );
    out
}

/// `file_transfer.list` as a table for a person: one line per transfer.
pub fn render_transfers(list: &Value) -> String {
    let list = Transfers::deserialize(list).unwrap_or_default();
    if list.transfers.is_empty() {
        return "no file transfers\n".to_owned();
    }
    let mut out = format!(
        "{:<6} {:<4} {:<32} {:<24} {:>10} {:>9} {:>12}  {}\n",
        "ID", "DIR", "PEER", "NAME", "SIZE", "PROGRESS", "RATE", "STATE"
    );
    for t in &list.transfers {
        let dir = match t.direction {
            Direction::Out => "out",
            _ => "in",
        };
        let size = t.size.map_or("?".to_owned(), |s| s.to_string());
        let progress = match t.size {
            Some(size) if size > 0 => format!("{:.0} %", t.received as f64 * 100.0 / size as f64),
            _ => t.received.to_string(),
        };
        // Bytes per second, downloads only: a sending has no progress.
        let rate = t.rate.map_or("-".to_owned(), |r| format!("{r} B/s"));
        let _ = writeln!(
            out,
            "{:<6} {dir:<4} {:<32} {:<24} {size:>10} {progress:>9} {rate:>12}  {}",
            t.id,
            t.peer,
            t.name,
            t.state.as_str()
        );
    }
    out
}

/// A JSON value on one line, strings without quotes.
pub fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_map_to_bus_commands() {
        let rules = CtlCommand::Rules {
            state: "off".into(),
            rule: "on-the-phone".into(),
        };
        assert_eq!(
            rules.request().unwrap(),
            (
                "host.set_rule".into(),
                json!({"name": "on-the-phone", "enabled": false})
            )
        );
        let reject = CtlCommand::Reject {
            call: Some("c1".into()),
            code: 603,
        };
        assert_eq!(
            reject.request().unwrap().1,
            json!({"call": "c1", "code": 603})
        );
        let bad = CtlCommand::Send {
            command: "x".into(),
            args: "{nope".into(),
        };
        assert!(bad.request().unwrap_err().contains("not JSON"));
    }

    #[test]
    fn transfers_show_direction_progress_rate_and_state() {
        let list = json!({"transfers": [
            {"id": "k3x9a", "peer": "sip:bob@x", "name": "holiday.jpg", "size": 2000,
             "received": 500, "state": "downloading", "direction": "in", "rate": 250},
            {"id": "q1w2e", "peer": "sip:carol@y", "name": "notes.txt", "state": "sending",
             "direction": "out"},
        ]});
        let text = render_transfers(&list);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("k3x9a  in   sip:bob@x"), "{text}");
        assert!(
            lines[1].ends_with("2000      25 %      250 B/s  downloading"),
            "{text}"
        );
        assert!(
            lines[2].contains(" out ") && lines[2].ends_with("sending"),
            "{text}"
        );
        assert_eq!(
            render_transfers(&json!({"transfers": []})),
            "no file transfers\n"
        );
        assert_eq!(
            CtlCommand::CancelTransfer { id: "k3x9a".into() }
                .request()
                .unwrap(),
            ("file_transfer.cancel".into(), json!({"id": "k3x9a"}))
        );
    }

    #[test]
    fn status_shows_failed_plugins_and_drops() {
        let host = json!({
            "version": "0.1.0", "uptime_s": 3.2,
            "plugins": [{"id": "sip", "version": "0.1.0", "failed": true}],
            "rules": [{"name": "on-the-phone", "enabled": false}],
            "subscribers": [{"name": "lua", "delivered": 10, "dropped": 2, "failed": false}],
            "lua": {"handled": 10, "errors": 0, "reloads": 1}
        });
        let text = render_status(&host, &[("xmpp.status".into(), json!({"connected": true}))]);
        assert!(
            text.contains("sip              0.1.0      FAILED"),
            "{text}"
        );
        assert!(text.contains("on-the-phone     off"), "{text}");
        assert!(text.contains("lua              10 / 2"), "{text}");
        assert!(
            text.contains(r#"xmpp.status: {"connected":true}"#),
            "{text}"
        );
    }
}
