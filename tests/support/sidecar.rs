//! A real `tandem run` with the XMPP plugin, logging into a test server, and
//! a rule that writes every `xmpp.*` event to the log so tests can see them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tandem::launch::sidecar::{self, Launch};

use crate::netns::{Network, Place};
use crate::xmpp_client::XmppClient;
use crate::xmpp_server::XmppServer;

/// Logs `EVENT <topic> <who> <show> <body> <via>` for each XMPP event.
const WATCH_RULE: &str = r#"
local function has(list, value)
  for _, v in ipairs(list or {}) do if v == value then return true end end
  return false
end
tandem.on("xmpp.*", function(ev, topic)
  local p = ev.presence
  local show = p and (p.show or "available") or "offline"
  local prio = p and p.priority or ""
  tandem.log.info("EVENT " .. topic .. " " .. tostring(ev.jid or ev.from or ev.state or ev.peer)
    .. " " .. show .. " " .. tostring(prio) .. " " .. tostring(ev.body) .. " " .. tostring(ev.via)
    .. " " .. tostring(ev.general) .. "/" .. tostring(ev.specific)
    .. (ev.addresses and (" reach=" .. tostring((ev.addresses[1] or {}).uri)) or "")
    .. (ev.features and #ev.features > 0 and (" features=" .. #ev.features) or "")
    .. (has(ev.features, "http://jabber.org/protocol/chatstates") and " chatstates" or "")
    .. (ev.session and (" session=" .. ev.session .. " direction=" .. tostring(ev.direction)
      .. " reason=" .. tostring(ev.reason) .. " condition=" .. tostring(ev.condition)) or "")
    .. (ev.action and (" action=" .. tostring(ev.action) .. " id=" .. tostring(ev.id)
      .. " jingle=" .. tostring(ev.jingle)) or ""))
end)
"#;

/// Logs `SIP <topic> call=<id> peer=<uri> ...` for each SIP event.
const SIP_WATCH_RULE: &str = r#"
tandem.on("sip.*", function(ev, topic)
  local m = ev.media or {}
  tandem.log.info("SIP " .. topic .. " call=" .. tostring(ev.call) .. " peer=" .. tostring(ev.peer or ev.from)
    .. " reason=" .. tostring(ev.reason) .. " code=" .. tostring(ev.code) .. " digit=" .. tostring(ev.digit)
    .. " state=" .. tostring(ev.state) .. " held=" .. tostring(ev.held) .. " retry_in=" .. tostring(ev.retry_in)
    .. " rx=" .. tostring(m.packets_received) .. " tx=" .. tostring(m.packets_sent)
    .. " lost=" .. tostring(m.packets_lost) .. " dtmf=" .. tostring(m.dtmf_received)
    .. " srtp=" .. tostring(m.encryption or "") .. " rejected=" .. tostring(m.packets_rejected)
    .. " codec=" .. tostring(m.codec or "")
    .. " b64=" .. tostring(ev.body_base64) .. " impp=" .. tostring(ev.peer_impp)
    .. " vouched=" .. tostring(ev.vouched) .. " type=" .. tostring(ev.content_type) .. " body=" .. tostring(ev.body))
end)
tandem.on("composing.*", function(ev, topic)
  tandem.log.info("TYPING " .. topic .. " peer=" .. tostring(ev.peer) .. " state=" .. tostring(ev.state))
end)
"#;

/// How the sidecar is made to trust the test server's CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `SSL_CERT_FILE` (rustls' native roots honour it).
    Environment,
    /// Not at all (extra config may name `ca_path`).
    Nothing,
}

pub struct Sidecar {
    // Declared first so the daemon stops before its folders are removed.
    daemon: sidecar::Sidecar,
    launch: Launch,
    pub dir: tempfile::TempDir,
    log: Arc<Mutex<String>>,
    _plugins: tempfile::TempDir,
}

impl Sidecar {
    /// Starts the sidecar for `jid` (bare) with `resource`; `extra` is
    /// appended to the config.
    pub fn start(server: &dyn XmppServer, jid: &str, password: &str, extra: &str) -> Sidecar {
        Sidecar::start_trusting(server, jid, password, extra, Trust::Environment)
    }

    /// Like `start`, choosing how the test CA is trusted.
    pub fn start_trusting(
        server: &dyn XmppServer,
        jid: &str,
        password: &str,
        extra: &str,
        trust: Trust,
    ) -> Sidecar {
        let plugins = crate::plugin_folder(&["tandem_plugin_xmpp"]);
        let dir = tempfile::tempdir().unwrap();
        crate::write(dir.path(), "scripts/watch.lua", WATCH_RULE);
        // The "Status", "Rules" and other ad-hoc commands every
        // installation serves (a shipped rule since the plugin knows no rule).
        copy_shipped_rules(dir.path(), &["status-commands"]);
        crate::write(dir.path(), "password", password);
        // `extra` may name its own port (direct TLS).
        let port = if extra.lines().any(|l| l.starts_with("port =")) {
            String::new()
        } else {
            format!("port = {}\n", server.port())
        };
        let config = format!(
            "[host]\nplugin_dirs = [{plugins:?}]\ndefault_plugin_dirs = false\nscript_dirs = [\"scripts\"]\ncontrol_socket = \"control.sock\"\n\n[plugins.xmpp]\njid = {jid:?}\npassword_file = \"password\"\nhost = \"127.0.0.1\"\n{port}{extra}\n",
            plugins = plugins.path().display().to_string(),
        );
        crate::write(dir.path(), "tandem.toml", &config);
        let ca = (trust == Trust::Environment).then(|| server.ca());
        Sidecar::spawn(dir, crate::tandem_bin(), plugins, ca, &[])
    }

    /// A sidecar with the SIP plugin only, listening on a free loopback
    /// port; `extra` goes inside `[plugins.sip]` and may open other
    /// sections. `shipped` names rules from `scripts/` to copy in.
    pub fn start_sip(extra: &str, shipped: &[&str]) -> Sidecar {
        Sidecar::start_sip_with_env(extra, shipped, &[])
    }

    /// Like `start_sip`, with these environment variables set for the
    /// daemon (a sound server's, say).
    pub fn start_sip_with_env(extra: &str, shipped: &[&str], env: &[(String, String)]) -> Sidecar {
        Sidecar::start_sip_plugins(extra, shipped, env, &["tandem_plugin_sip"])
    }

    /// Like `start_sip_with_env`, with these plugins (crate names) loaded.
    pub fn start_sip_plugins(
        extra: &str,
        shipped: &[&str],
        env: &[(String, String)],
        crates: &[&str],
    ) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        let exe = crate::tandem_bin();
        Sidecar::start_sip_at(dir, exe, "127.0.0.1:0", extra, shipped, env, crates)
    }

    /// A sidecar with the SIP plugin only, in `place` of `network`,
    /// listening on `listen`; `extra` and `shipped` as for `start_sip`.
    pub fn start_sip_in(
        network: &Network,
        place: Place,
        listen: &str,
        extra: &str,
        shipped: &[&str],
    ) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        let exe = network.launcher(place, dir.path(), &crate::tandem_bin());
        Sidecar::start_sip_at(
            dir,
            exe,
            listen,
            extra,
            shipped,
            &[],
            &["tandem_plugin_sip"],
        )
    }

    fn start_sip_at(
        dir: tempfile::TempDir,
        exe: PathBuf,
        listen: &str,
        extra: &str,
        shipped: &[&str],
        env: &[(String, String)],
        crates: &[&str],
    ) -> Sidecar {
        let plugins = crate::plugin_folder(crates);
        crate::write(dir.path(), "scripts/watch.lua", SIP_WATCH_RULE);
        copy_shipped_rules(dir.path(), shipped);
        let config = format!(
            "[host]\nplugin_dirs = [{plugins:?}]\ndefault_plugin_dirs = false\nscript_dirs = [\"scripts\"]\ncontrol_socket = \"control.sock\"\n\n[plugins.sip]\nlisten = {listen:?}\n{extra}\n",
            plugins = plugins.path().display().to_string(),
        );
        crate::write(dir.path(), "tandem.toml", &config);
        let sidecar = Sidecar::spawn(dir, exe, plugins, None, env);
        sidecar.wait_for("listening on ");
        sidecar
    }

    /// The whole product: the XMPP plugin logged in as `jid`, the SIP
    /// plugin on a free loopback port (as `sip_user`) and the composing
    /// plugin, the `shipped` rules,
    /// and both watch rules. `xmpp_extra` goes inside `[plugins.xmpp]`;
    /// `extra` is appended (it may open sections).
    pub fn start_phone(
        server: &dyn XmppServer,
        account: (&str, &str),
        sip_user: &str,
        shipped: &[&str],
        xmpp_extra: &str,
        extra: &str,
    ) -> Sidecar {
        Sidecar::start_phone_plugins(server, account, sip_user, shipped, xmpp_extra, extra, &[])
    }

    /// Like `start_phone`, with these plugins (crate names) loaded too
    /// (the file-transfer plugin, say).
    pub fn start_phone_plugins(
        server: &dyn XmppServer,
        (jid, password): (&str, &str),
        sip_user: &str,
        shipped: &[&str],
        xmpp_extra: &str,
        extra: &str,
        more: &[&str],
    ) -> Sidecar {
        let crates = [
            &[
                "tandem_plugin_xmpp",
                "tandem_plugin_sip",
                "tandem_plugin_composing",
            ][..],
            more,
        ]
        .concat();
        let plugins = crate::plugin_folder(&crates);
        let dir = tempfile::tempdir().unwrap();
        crate::write(dir.path(), "scripts/watch.lua", WATCH_RULE);
        crate::write(dir.path(), "scripts/watch-sip.lua", SIP_WATCH_RULE);
        copy_shipped_rules(dir.path(), shipped);
        crate::write(dir.path(), "password", password);
        let config = format!(
            "[host]\nplugin_dirs = [{plugins:?}]\ndefault_plugin_dirs = false\nscript_dirs = [\"scripts\"]\ncontrol_socket = \"control.sock\"\n\n[plugins.xmpp]\njid = {jid:?}\npassword_file = \"password\"\nhost = \"127.0.0.1\"\nport = {port}\n{xmpp_extra}\n\n[plugins.sip]\nlisten = \"127.0.0.1:0\"\nuser = {sip_user:?}\n{extra}\n",
            plugins = plugins.path().display().to_string(),
            port = server.port(),
        );
        crate::write(dir.path(), "tandem.toml", &config);
        let sidecar = Sidecar::spawn(dir, crate::tandem_bin(), plugins, Some(server.ca()), &[]);
        sidecar.wait_for("listening on udp");
        sidecar
    }

    /// The SIP chat set-up: alice registered on `server`, her own client
    /// ("gajim", priority 5) logged in, and the whole product with
    /// sip-chat.lua online beside it and aware of that client.
    pub fn alice_with_sip_chat(server: &dyn XmppServer) -> (String, XmppClient, Sidecar) {
        let alice = server.register("alice", "alice-secret");
        let gajim = XmppClient::login(server, &alice, "alice-secret", "gajim", 5);
        let sidecar = Sidecar::start_phone(
            server,
            (&alice, "alice-secret"),
            "alice",
            &["sip-chat"],
            "",
            // The sustained bench writes 1,000 a second from one address.
            "message_rate = 0",
        );
        sidecar.wait_online(&format!("{alice}/tandem"), 1);
        sidecar.wait_for(&format!(
            "EVENT xmpp.own_presence {alice}/gajim available 5"
        ));
        (alice, gajim, sidecar)
    }

    fn spawn(
        dir: tempfile::TempDir,
        exe: PathBuf,
        plugins: tempfile::TempDir,
        ca: Option<PathBuf>,
        env: &[(String, String)],
    ) -> Sidecar {
        let mut launch = Launch {
            log_filter: log_filter(),
            env_remove: vec!["SSL_CERT_FILE".into()],
            // What the daemon keeps (notes waiting for the user) stays in
            // the test's folder, apart from other tests' and the user's.
            env: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
            ..Launch::new(exe, dir.path().join("tandem.toml"))
        };
        launch
            .env
            .push(("XDG_STATE_HOME".into(), dir.path().join("state").into()));
        if let Some(ca) = ca {
            // The test CA, for rustls' native roots (see the plugin README).
            launch.env.push(("SSL_CERT_FILE".into(), ca.into()));
        }
        let log = Arc::new(Mutex::new(String::new()));
        let daemon = Sidecar::run(&launch, &log);
        Sidecar {
            daemon,
            launch,
            dir,
            log,
            _plugins: plugins,
        }
    }

    fn run(launch: &Launch, log: &Arc<Mutex<String>>) -> sidecar::Sidecar {
        let sink = log.clone();
        launch
            .start(move |line| {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            })
            .unwrap()
    }

    /// Stops the daemon (SIGTERM, as a user's Ctrl-C or systemd would) and
    /// starts it again with the same folder and config; its log goes on.
    pub fn restart(&mut self) {
        self.daemon.stop();
        self.log.lock().unwrap().push_str("---- restarted ----\n");
        self.daemon = Sidecar::run(&self.launch, &self.log);
    }

    /// The daemon's process id (for CPU and memory readings).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The SIP plugin's UDP port (from `sip.status`).
    pub fn sip_port(&self) -> u16 {
        let status = self.call("sip.status", serde_json::json!({})).unwrap();
        let listening = status["listening"][0].as_str().unwrap().to_owned();
        listening.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("tandem.toml")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (20 s at most) until the log contains `needle` `times` times.
    pub fn wait_for_n(&self, needle: &str, times: usize) -> String {
        let what = format!("{needle:?} (x{times}) in the sidecar's log");
        crate::wait_for_log(&what, || {
            let log = self.log();
            if log.matches(needle).count() >= times {
                Ok(log)
            } else {
                Err(log)
            }
        })
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_n(needle, 1)
    }

    /// A media counter of call `call` (`packets_received`,
    /// `packets_rejected`, …) as `sip.calls` shows it now; the test fails
    /// when the call is not under way.
    pub fn media_counter(&self, call: &str, counter: &str) -> u64 {
        let calls = self.call("sip.calls", serde_json::json!({})).unwrap();
        calls["now"]
            .as_array()
            .and_then(|now| now.iter().find(|c| c["call"] == call))
            .and_then(|c| c["media"][counter].as_u64())
            .unwrap_or_else(|| panic!("call {call} not in sip.calls: {calls}"))
    }

    /// Waits (`within` at most) until call `call`'s media `counter`
    /// reaches `target`; gives its last value, for the test to judge.
    pub fn wait_media_counter(
        &self,
        call: &str,
        counter: &str,
        target: u64,
        within: std::time::Duration,
    ) -> u64 {
        let deadline = std::time::Instant::now() + within;
        loop {
            let value = self.media_counter(call, counter);
            if value >= target || std::time::Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `tandem ctl send COMMAND ARGS`: the answer, or the error text.
    pub fn call(&self, command: &str, args: Value) -> Result<Value, String> {
        let out = Command::new(crate::tandem_bin())
            .args(["ctl", "--json", "--config"])
            .arg(self.config())
            .args(["send", command, &args.to_string()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            Ok(serde_json::from_str(stdout.trim()).unwrap_or(Value::Null))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

/// Copies rules from the repository's `scripts/` into a sidecar's folder.
fn copy_shipped_rules(dir: &std::path::Path, shipped: &[&str]) {
    for rule in shipped {
        let source = crate::workspace()
            .join("scripts")
            .join(format!("{rule}.lua"));
        let text = std::fs::read_to_string(&source).unwrap();
        crate::write(dir, &format!("scripts/{rule}.lua"), &text);
    }
}

/// A `name=value` field of a watch-rule log line ("" when absent).
pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or("")
}

/// The SIP watch rule's log line of the first `topic` event.
pub fn event_line(log: &str, topic: &str) -> String {
    nth_event_line(log, topic, 1)
}

/// The SIP watch rule's log line of the `n`th (from 1) `topic` event; ""
/// when there are fewer.
pub fn nth_event_line(log: &str, topic: &str, n: usize) -> String {
    log.lines()
        .filter(|l| l.contains(&format!("SIP {topic} ")))
        .nth(n - 1)
        .unwrap_or_default()
        .to_owned()
}

/// The daemons' `RUST_LOG`: `TANDEM_TEST_LOG` when set (say
/// `info,sip=debug` to see a failing test's SIP traffic), else `info`.
pub fn log_filter() -> String {
    std::env::var("TANDEM_TEST_LOG").unwrap_or_else(|_| "info".to_owned())
}
