//! Profanity (Debian's `profanity`, 0.13), a real user's XMPP client in a
//! terminal, run in a throwaway `tmux` server: keys typed with
//! `send-keys`, the screen read with `capture-pane`, as a person would
//! type and read. Its own HOME and XDG folders, a profrc that keeps away
//! what gets in the way of a test (splash, desktop notifications, version
//! check, OTR/OMEMO/PGP prompts), the test CA trusted through
//! `/tls certpath`, a fixed 200×50 terminal, and a tmux socket of its own
//! (in its HOME), so tests run side by side; the tmux server is killed
//! when dropped.
//!
//! Found on PATH, as `apt-get install profanity` puts it, or as
//! `tools/install-packages` unpacks it without root (a wrapper in
//! `target/debian-root/usr/bin` that finds its libraries; tmux runs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
    home: tempfile::TempDir,
    /// The tmux session (and socket) name.
    session: String,
}

impl Profanity {
    /// Starts Profanity in a detached 200×50 tmux session and waits for
    /// its first screen. `ca` is the test CA, trusted through a
    /// `/tls certpath` folder (OpenSSL's hashed names).
    pub fn start(ca: &Path) -> Profanity {
        let program = on_path("profanity")
            .expect("no profanity on PATH (apt-get install profanity; see tools/install-packages)");
        on_path("tmux").expect("no tmux on PATH (apt-get install tmux)");
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
        let runtime = h.join("run");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let session = format!(
            "prof{}-{}",
            std::process::id(),
            h.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('.')
        );
        let profanity = Profanity { home, session };
        let mut cmd = profanity.tmux();
        cmd.args(["-f", "/dev/null", "new-session", "-d", "-s"])
            .arg(&profanity.session)
            .args(["-x", "200", "-y", "50"])
            .arg(&program);
        crate::run_checked(&mut cmd, "tmux new-session");
        profanity.wait_for_text("Type '/help' to show complete help.");
        profanity.command(&format!("/tls certpath set {}", certs.display()));
        profanity.wait_for_text("Certificate path set to");
        profanity
    }

    /// A tmux command on this session's own server, its environment the
    /// one Profanity gets: its own HOME and XDG folders, no desktop.
    fn tmux(&self) -> Command {
        let h = self.home.path();
        let mut cmd = Command::new("tmux");
        cmd.arg("-L")
            .arg(&self.session)
            .env("TMUX_TMPDIR", h)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join(".config"))
            .env("XDG_DATA_HOME", h.join(".local/share"))
            .env("XDG_CACHE_HOME", h.join(".cache"))
            .env("XDG_RUNTIME_DIR", h.join("run"))
            .env("GNUPGHOME", h.join(".gnupg"))
            .env("TERM", "xterm-256color")
            // UTF-8 whatever the machine's locale, for tmux and Profanity.
            .env("LC_ALL", "C.UTF-8")
            .env_remove("TMUX")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        cmd
    }

    /// Types `text` (literally, as keys) and Enter.
    pub fn command(&self, text: &str) {
        let mut keys = self.tmux();
        keys.args(["send-keys", "-t", &self.session, "-l", "--", text]);
        crate::run_checked(&mut keys, "tmux send-keys");
        let mut enter = self.tmux();
        enter.args(["send-keys", "-t", &self.session, "Enter"]);
        crate::run_checked(&mut enter, "tmux send-keys Enter");
    }

    /// What the terminal shows now (50 lines of 200 columns, trailing
    /// blanks trimmed).
    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("cannot run tmux capture-pane");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (20 s at most) until the screen holds what `pred` accepts;
    /// fails naming `what`, with the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "Profanity never showed {what}; its screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(&format!("{text:?}"), |s| s.contains(text))
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
        self.home
            .path()
            .join(".local/share/profanity/logs/profanity.log")
    }
}

impl Drop for Profanity {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// `program` as found on PATH, as `Command` would run it.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
