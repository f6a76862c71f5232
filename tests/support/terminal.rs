//! A program in a real terminal, as a person uses it: a throwaway `tmux`
//! server (its socket in a HOME of its own, so tests run side by side)
//! running one program in a fixed 200×50 window; keys typed with
//! `send-keys`, the screen read with `capture-pane`. The tmux server is
//! killed when dropped. Profanity runs in one (`profanity.rs`), and so
//! does `tandem init` with its questions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Terminal {
    home: tempfile::TempDir,
    /// The tmux session (and socket) name.
    session: String,
    /// What runs in it, for messages.
    name: String,
}

impl Terminal {
    /// Starts `program` with `args` in a detached 200×50 window, HOME and
    /// the XDG folders in `home` (made by the caller, who may have put a
    /// configuration there first).
    pub fn start(home: tempfile::TempDir, program: &Path, args: &[&str]) -> Terminal {
        on_path("tmux").expect("no tmux on PATH (apt-get install tmux)");
        let h = home.path();
        let runtime = h.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let session = format!(
            "term{}-{}",
            std::process::id(),
            h.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('.')
        );
        let name = program
            .file_name()
            .map_or("the program".into(), |n| n.to_string_lossy().into_owned());
        let terminal = Terminal {
            home,
            session,
            name,
        };
        let mut cmd = terminal.tmux();
        cmd.args(["-f", "/dev/null", "new-session", "-d", "-s"])
            .arg(&terminal.session)
            .args(["-x", "200", "-y", "50"])
            .arg(program)
            .args(args);
        crate::run_checked(&mut cmd, "tmux new-session");
        terminal
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A tmux command on this terminal's own server, its environment the
    /// one the program gets: its own HOME and XDG folders, no desktop.
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
            // UTF-8 whatever the machine's locale, for tmux and the program.
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
                "{} never showed {what}; its screen:\n{screen}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(&format!("{text:?}"), |s| s.contains(text))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// `program` as found on PATH, as `Command` would run it.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
