//! Profanity (Debian's `profanity`, 0.13), a real user's XMPP client in a
//! terminal, run in a throwaway `tmux` server: keys typed with
//! `send-keys`, the screen read with `capture-pane`, as a person would
//! type and read. Its own HOME and XDG folders, a profrc that keeps away
//! what gets in the way of a test (splash, desktop notifications, version
//! check, OTR/OMEMO/PGP prompts), the test CA trusted through
//! `/tls certpath`, in a `Terminal` of its own (`terminal.rs`).
//!
//! Found on PATH, as `apt-get install profanity` puts it, or as
//! `tools/install-packages` unpacks it without root (a wrapper in
//! `target/debian-root/usr/bin` that finds its libraries; tmux runs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::terminal::{on_path, Terminal};

/// Profanity's settings for a test: nothing that asks, beeps, notifies
/// the desktop or phones home.
const PROFRC: &str = "[ui]\nsplash=false\nvercheck=false\ntitlebar=false\nmouse=false\n\
    flash=false\nbeep=false\ntray=false\n\n\
    [notifications]\nmessage=false\nroom=false\ninvite=false\nsub=false\n\
    typing=false\nremind=0\n\n\
    [connection]\nautoping=0\nreconnect=0\n\n\
    [otr]\npolicy=manual\n\n[omemo]\npolicy=manual\n\n[logging]\nchlog=false\ngrlog=false\n";

#[derive(Debug)]
pub struct Profanity {
    terminal: Terminal,
}

impl Profanity {
    /// Starts Profanity in a detached 200×50 tmux session and waits for
    /// its first screen. `ca` is the test CA, trusted through a
    /// `/tls certpath` folder (OpenSSL's hashed names).
    pub fn start(ca: &Path) -> Profanity {
        let program = on_path("profanity")
            .expect("no profanity on PATH (apt-get install profanity; see tools/install-packages)");
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        crate::write(h, ".config/profanity/profrc", PROFRC);
        let certs = h.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let hash = Command::new("openssl")
            .args(["x509", "-noout", "-hash", "-in"])
            .arg(ca)
            .output()
            .expect("cannot run openssl");
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_owned();
        assert!(
            !hash.is_empty(),
            "openssl gave no hash for {}",
            ca.display()
        );
        std::fs::copy(ca, certs.join(format!("{hash}.0"))).unwrap();
        let terminal = Terminal::start(home, &program, &[]);
        let profanity = Profanity { terminal };
        profanity.wait_for_text("Type '/help' to show complete help.");
        profanity.command(&format!("/tls certpath set {}", certs.display()));
        profanity.wait_for_text("Certificate path set to");
        profanity
    }

    /// Types `text` (literally, as keys) and Enter.
    pub fn command(&self, text: &str) {
        self.terminal.command(text);
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        self.terminal.screen()
    }

    /// Waits (20 s at most) until the screen holds what `pred` accepts.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.terminal.wait_for(what, pred)
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for_text(&self, text: &str) -> String {
        self.terminal.wait_for_text(text)
    }

    /// Logs in as `jid` at 127.0.0.1:`port` (STARTTLS, the certificate
    /// checked against the test CA), typing the password at its prompt,
    /// and waits until Profanity says it is logged in.
    pub fn connect(&self, jid: &str, password: &str, port: u16) {
        self.command(&format!("/connect {jid} server 127.0.0.1 port {port}"));
        self.wait_for_text("Enter password:");
        self.command(password);
        // "alice@localhost/profanity.AbCd logged in successfully, online (priority 0)."
        self.wait_for(&format!("{jid} logged in"), |s| {
            s.lines()
                .any(|l| l.contains(&format!(" - {jid}/")) && l.contains(" logged in successfully"))
        });
    }

    /// Profanity's own log (`~/.local/share/profanity/logs`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.terminal
            .home()
            .join(".local/share/profanity/logs/profanity.log")
    }
}
