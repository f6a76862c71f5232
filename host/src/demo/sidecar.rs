//! One demo participant: a real `tandem run` child with its own config,
//! rules and control socket. Its log lines reach the demo through one
//! shared channel, stamped when they arrive, so delays between what two
//! participants saw are measured on one clock.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::DemoError;
use crate::launch::sidecar::{self, Launch};

/// Logs `DEMO <topic> key=value ...` for the events the story follows.
const DEMO_RULE: &str = r#"
local function line(topic, fields)
  local parts = { "DEMO", topic }
  for _, k in ipairs({ "call", "peer", "reason", "jid", "show", "status", "priority", "state", "general" }) do
    if fields[k] ~= nil then parts[#parts + 1] = k .. "=" .. tostring(fields[k]):gsub(" ", "_") end
  end
  tandem.log.info(table.concat(parts, " "))
end
tandem.on("sip.call.*", function(ev, topic) line(topic, ev) end)
tandem.on("xmpp.connection", function(ev, topic) line(topic, ev) end)
tandem.on("xmpp.activity", function(ev, topic) line(topic, ev) end)
tandem.on("xmpp.contact_presence", function(ev, topic)
  local p = ev.presence or {}
  line(topic, { jid = ev.jid, show = ev.presence and (p.show or "available") or "offline",
                status = p.status, priority = p.priority })
end)
"#;

/// A line one participant logged.
#[derive(Debug, Clone)]
pub struct Line {
    pub who: &'static str,
    pub at: Instant,
    pub text: String,
}

pub struct Sidecar {
    pub name: &'static str,
    pub dir: PathBuf,
    _daemon: sidecar::Sidecar,
}

impl Sidecar {
    /// Writes `config` and the rules into `dir` and starts `tandem run`.
    pub fn start(
        name: &'static str,
        dir: &Path,
        config: &str,
        rules: &[(&str, &str)],
        lines: Sender<Line>,
    ) -> Result<Sidecar, DemoError> {
        let scripts = dir.join("scripts");
        std::fs::create_dir_all(&scripts).map_err(|e| DemoError::io("a rules folder", e))?;
        std::fs::write(scripts.join("demo-watch.lua"), DEMO_RULE)
            .map_err(|e| DemoError::io("the demo rule", e))?;
        for (file, text) in rules {
            std::fs::write(scripts.join(file), text).map_err(|e| DemoError::io("a rule", e))?;
        }
        std::fs::write(dir.join("tandem.toml"), config)
            .map_err(|e| DemoError::io("tandem.toml", e))?;
        let exe = std::env::current_exe().map_err(|e| DemoError::io("tandem's own path", e))?;
        let launch = Launch {
            own_process_group: true, // Ctrl-C is the demo's to handle (interrupt.rs)
            // What it keeps (notes waiting for the user) stays in the
            // demo's throwaway folder, not the user's own state.
            env: vec![("XDG_STATE_HOME".into(), dir.join("state").into())],
            ..Launch::new(exe, dir.join("tandem.toml"))
        };
        let daemon = launch
            .start(move |text| {
                // The demo may have ended; the daemon is stopped right after.
                let _ = lines.send(Line {
                    who: name,
                    at: Instant::now(),
                    text,
                });
            })
            .map_err(|e| DemoError::io("tandem run", e))?;
        Ok(Sidecar {
            name,
            dir: dir.to_owned(),
            _daemon: daemon,
        })
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// Asks the daemon to run `command` (as `tandem ctl send` does).
    pub fn call(
        &self,
        command: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, DemoError> {
        let answer = crate::control::client::request(
            &self.socket(),
            command,
            args,
            std::time::Duration::from_secs(10),
        )
        .map_err(|e| DemoError::Step(format!("{}: {command}: {e}", self.name)))?;
        match answer {
            crate::control::Response::Ok(value) => Ok(value),
            crate::control::Response::Error { kind, message } => Err(DemoError::Step(format!(
                "{}: {command}: {kind}: {message}",
                self.name
            ))),
        }
    }
}
