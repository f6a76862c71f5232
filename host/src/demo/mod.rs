//! `tandem demo`: the product's story in one command, with no accounts.
//!
//! A throwaway Prosody on loopback, three real `tandem run` daemons (alice
//! and bob with the SIP and XMPP plugins, calling each other peer to peer;
//! carol, a contact, with XMPP only, watching), the shipped rules, and a
//! live timeline: alice calls bob, bob's rule answers, carol sees both "On
//! the phone", audio flows, alice hangs up, carol sees them back. Every
//! step has a deadline and says what failed; everything started is stopped
//! and every file removed, whatever happens.

mod prosody;
mod sidecar;

use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::json;

use prosody::{Prosody, DOMAIN};
use sidecar::{Line, Sidecar};

mod interrupt;

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("tandem demo needs Prosody, an XMPP server: sudo apt-get install prosody")]
    NoProsody,
    #[error("Prosody: {0}")]
    Prosody(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Step(String),
    #[error("interrupted")]
    Interrupted,
}

impl DemoError {
    fn io(what: &'static str, source: std::io::Error) -> DemoError {
        DemoError::Io { what, source }
    }
}

/// How long any one step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the call lasts, for audio to flow.
const TALK: Duration = Duration::from_secs(3);

/// The shipped rules the participants run, built into the binary so the
/// demo works from any folder.
const ON_THE_PHONE: &str = include_str!("../../../scripts/on-the-phone.lua");
const AUTO_ANSWER: &str = include_str!("../../../scripts/auto-answer.lua");

/// What the demo measured, for its summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// From the call being answered (as the participant logged it) to
    /// carol seeing that participant "On the phone".
    pub presence_delay_ms: Vec<(&'static str, f64)>,
    /// (participant, RTP packets sent, received) after `TALK`.
    pub packets: Vec<(&'static str, u64, u64)>,
    pub steps: usize,
}

/// Runs the story, printing the timeline; everything is cleaned up on
/// return.
pub fn run() -> Result<Summary, DemoError> {
    interrupt::catch();
    let folder = tempfile::Builder::new()
        .prefix("tandem-demo-")
        .tempdir()
        .map_err(|e| DemoError::io("a temporary folder", e))?;
    let mut story = Story::new();
    let result = story.play(folder.path());
    // Daemons and Prosody are stopped by their Drop, in `play`; the folder
    // goes here.
    drop(folder);
    story.say("stopped everything and removed the temporary files");
    result
}

struct Story {
    start: Instant,
    lines: Option<Receiver<Line>>,
    seen: Vec<Line>,
    steps: usize,
}

impl Story {
    fn new() -> Story {
        Story {
            start: Instant::now(),
            lines: None,
            seen: Vec::new(),
            steps: 0,
        }
    }

    fn say(&self, text: &str) {
        println!("{:>7.2}s  {text}", self.start.elapsed().as_secs_f64());
    }

    fn done(&mut self, text: &str) {
        self.steps += 1;
        self.say(&format!("✓ {text}"));
    }

    fn play(&mut self, dir: &std::path::Path) -> Result<Summary, DemoError> {
        let (tx, rx) = channel();
        self.lines = Some(rx);
        let users = [
            ("alice", "alice-demo"),
            ("bob", "bob-demo"),
            ("carol", "carol-demo"),
        ];
        let server = Prosody::start(dir, &users)?;
        self.done(&format!(
            "Prosody on 127.0.0.1:{} with alice, bob and carol in one roster group",
            server.port
        ));

        let plugins = plugin_folder(dir)?;
        let sip_ports = [free_udp_port()?, free_udp_port()?];
        let mut sidecars = Vec::new();
        for (i, (name, password)) in users.iter().enumerate() {
            let name: &'static str = name;
            let folder = dir.join(name);
            std::fs::create_dir_all(&folder).map_err(|e| DemoError::io("a sidecar folder", e))?;
            std::fs::write(folder.join("password"), password)
                .map_err(|e| DemoError::io("a password file", e))?;
            let caller = if name == "bob" { "alice" } else { "bob" };
            let config = participant_config(
                name,
                &plugins,
                server.port,
                sip_ports.get(i).copied(),
                caller,
            );
            let rules: &[(&str, &str)] = if sip_ports.get(i).is_some() {
                &[
                    ("on-the-phone.lua", ON_THE_PHONE),
                    ("auto-answer.lua", AUTO_ANSWER),
                ]
            } else {
                &[]
            };
            sidecars.push(Sidecar::start(name, &folder, &config, rules, tx.clone())?);
        }
        drop(tx);
        for sidecar in &sidecars {
            let ready = self.wait(sidecar.name, "starts", |l| l.contains(" ready plugins="))?;
            let wanted: &[&str] = if sidecar.name == "carol" {
                &["xmpp"]
            } else {
                &["xmpp", "sip"]
            };
            if let Some(missing) = wanted
                .iter()
                .find(|p| !ready.text.contains(&format!("\"{p}\"")))
            {
                return Err(DemoError::Step(format!(
                    "{}: the {missing} plugin was not found next to the tandem binary \
                     (build it: cargo build --release)",
                    sidecar.name
                )));
            }
            self.wait(sidecar.name, "logs in", |l| {
                l.contains("DEMO xmpp.connection") && l.contains("state=online")
            })?;
        }
        self.done("alice, bob and carol are online, each a real `tandem run`");
        // Nobody runs a chat client in the demo, only Tandem: alice and bob
        // are honestly "Reachable by phone" (xa), not available for chat.
        for who in ["alice", "bob"] {
            self.wait("carol", &format!("sees {who}"), |l| {
                l.contains(&format!(
                    "DEMO xmpp.contact_presence jid={who}@{DOMAIN}/tandem show=xa status=Reachable_by_phone"
                ))
            })?;
        }
        self.done(
            "carol sees alice and bob \"Reachable by phone\" (no chat client of theirs is online)",
        );

        let (alice, bob) = (&sidecars[0], &sidecars[1]);
        let to = format!("sip:bob@127.0.0.1:{}", sip_ports[1]);
        alice.call("sip.call", json!({ "to": to }))?;
        self.done(&format!(
            "alice calls bob ({to}), peer to peer, no registrar"
        ));
        self.wait("bob", "rings", |l| l.contains("DEMO sip.call.incoming"))?;
        let answered_bob = self.wait("bob", "answers", |l| l.contains("DEMO sip.call.answered"))?;
        let answered_alice = self.wait("alice", "is answered", |l| {
            l.contains("DEMO sip.call.answered")
        })?;
        self.done("bob's auto-answer rule picks up; the call is up");

        let mut summary = Summary::default();
        for (who, answered) in [("alice", &answered_alice), ("bob", &answered_bob)] {
            let seen = self.wait("carol", &format!("sees {who} on the phone"), |l| {
                l.contains(&format!("jid={who}@{DOMAIN}/tandem"))
                    && l.contains("status=On_the_phone")
            })?;
            let ms = seen.at.saturating_duration_since(answered.at).as_secs_f64() * 1e3;
            summary.presence_delay_ms.push((who, ms));
            self.done(&format!(
                "carol sees {who} \"On the phone\" (away), {ms:.1} ms after the answer"
            ));
        }
        self.wait("carol", "gets alice's activity", |l| {
            l.contains(&format!("DEMO xmpp.activity jid=alice@{DOMAIN}"))
                && l.contains("general=talking")
        })?;
        self.done("carol gets alice's activity talking/on_the_phone (PEP)");

        interrupt::sleep(TALK)?;
        for sidecar in [alice, bob] {
            let status = sidecar.call("sip.status", json!({}))?;
            let media = &status["calls"][0]["media"];
            let (sent, received) = (
                media["packets_sent"].as_u64().unwrap_or(0),
                media["packets_received"].as_u64().unwrap_or(0),
            );
            if received == 0 {
                return Err(DemoError::Step(format!(
                    "{}: no audio arrived in {} s ({status})",
                    sidecar.name,
                    TALK.as_secs()
                )));
            }
            summary.packets.push((sidecar.name, sent, received));
        }
        self.done(&format!(
            "audio flows both ways: {}",
            summary
                .packets
                .iter()
                .map(|(who, sent, received)| format!(
                    "{who} sent {sent}, received {received} RTP packets"
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));

        let hung_up = Instant::now();
        alice.call("sip.hangup", json!({}))?;
        self.wait("alice", "hangs up", |l| l.contains("DEMO sip.call.ended"))?;
        self.wait("bob", "sees the end", |l| l.contains("DEMO sip.call.ended"))?;
        self.done("alice hangs up");
        for who in ["alice", "bob"] {
            self.wait_since(hung_up, "carol", &format!("sees {who} back"), |l| {
                l.contains(&format!(
                    "DEMO xmpp.contact_presence jid={who}@{DOMAIN}/tandem show=xa status=Reachable_by_phone"
                ))
            })?;
        }
        self.done("carol sees alice and bob \"Reachable by phone\" again: presence restored");
        summary.steps = self.steps;
        drop(sidecars);
        drop(server);
        Ok(summary)
    }

    /// The first line from `who` matching `pred`, waiting for it.
    fn wait(
        &mut self,
        who: &'static str,
        step: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<Line, DemoError> {
        self.wait_since(self.start, who, step, pred)
    }

    fn wait_since(
        &mut self,
        since: Instant,
        who: &'static str,
        step: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<Line, DemoError> {
        let matches = |l: &Line| l.who == who && l.at >= since && pred(&l.text);
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return Ok(line.clone());
        }
        let deadline = Instant::now() + STEP_TIMEOUT;
        let lines = self.lines.as_ref().expect("play sets the channel");
        loop {
            interrupt::check()?;
            // Short waits, so Ctrl-C is acted on at once.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(interrupt::POLL);
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if line.text.contains("ERROR") {
                        self.say(&format!("{}: {}", line.who, line.text));
                    }
                    let found = matches(&line);
                    self.seen.push(line.clone());
                    if found {
                        return Ok(line);
                    }
                }
                Err(_) if Instant::now() < deadline => {}
                Err(_) => {
                    let tail: Vec<&str> = self
                        .seen
                        .iter()
                        .filter(|l| l.who == who)
                        .map(|l| l.text.as_str())
                        .rev()
                        .take(8)
                        .collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(DemoError::Step(format!(
                        "{who} {step}: not within {} s. Its last log lines:\n  {}",
                        STEP_TIMEOUT.as_secs(),
                        tail.join("\n  ")
                    )));
                }
            }
        }
    }
}

/// A participant's `tandem.toml`: XMPP always; with a SIP port, SIP with a
/// tone and the rules that answer `caller` and show "On the phone".
fn participant_config(
    name: &str,
    plugins: &std::path::Path,
    xmpp_port: u16,
    sip_port: Option<u16>,
    caller: &str,
) -> String {
    let mut config = format!(
        "[host]\nplugin_dirs = [{plugins:?}]\ndefault_plugin_dirs = false\n\
         script_dirs = [\"scripts\"]\ncontrol_socket = \"control.sock\"\n\n\
         [plugins.xmpp]\njid = \"{name}@{DOMAIN}\"\npassword_file = \"password\"\n\
         host = \"127.0.0.1\"\nport = {xmpp_port}\ninsecure = true   # loopback only\n\n"
    );
    match sip_port {
        Some(port) => config.push_str(&format!(
            "[plugins.sip]\nlisten = \"127.0.0.1:{port}\"\nuser = \"{name}\"\nsource = \"tone:440\"\n\n\
             [scripts.auto-answer]\nenabled = true\nallow = [\"{caller}@127.0.0.1\"]\n"
        )),
        None => config.push_str("[plugins.sip]\nenabled = false\n"),
    }
    config
}

/// A folder with links to just the XMPP and SIP plugins, found where
/// `tandem run` looks by default, so nothing else the folders hold loads.
fn plugin_folder(dir: &std::path::Path) -> Result<std::path::PathBuf, DemoError> {
    let folder = dir.join("plugins");
    std::fs::create_dir_all(&folder).map_err(|e| DemoError::io("the plugin folder", e))?;
    let searched = crate::plugins::default_dirs();
    for name in ["tandem_plugin_xmpp", "tandem_plugin_sip"] {
        let file = format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let found = searched.iter().map(|d| d.join(&file)).find(|p| p.is_file());
        let Some(found) = found else {
            return Err(DemoError::Step(format!(
                "{file} is not in {} (build the plugins: cargo build --release)",
                searched
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        };
        std::os::unix::fs::symlink(&found, folder.join(&file))
            .map_err(|e| DemoError::io("a plugin link", e))?;
    }
    Ok(folder)
}

/// A TCP port nobody listens on right now.
use crate::launch::free_port;

fn free_udp_port() -> Result<u16, DemoError> {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| DemoError::io("a free UDP port", e))
}
