//! pjsua2 (PJSIP's Python binding, the PyPI wheel pinned by version and
//! hash in `pjsua2-requirements.txt`) as a real SIP peer: `pjsua2_peer.py`
//! in a venv of Debian's `/usr/bin/python3`, made once under
//! `target/test-venv/` and shared by every test process.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The venv's interpreter, with pjsua2 importable. The first caller on this
/// machine makes the venv (PyPI through pip, `--require-hashes`); others,
/// in this process or another, wait on a lock file and then reuse it. A
/// venv left half-made by an interrupted run, or made from other
/// requirements, is made again.
pub fn python() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let root = crate::target_dir().parent().unwrap().join("test-venv");
        std::fs::create_dir_all(&root).unwrap();
        let venv = root.join("pjsua2");
        let python = venv.join("bin/python");
        let requirements = crate::workspace().join("tests/support/pjsua2-requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).unwrap();
        // Written last: its presence, with these requirements, says done.
        let marker = venv.join("tandem-requirements.txt");
        let lock = std::fs::File::create(root.join("pjsua2.lock")).unwrap();
        // Blocks while another process makes it; released when `lock`
        // is closed, even if that process dies.
        // SAFETY: flock on a descriptor this function owns.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "cannot lock {}", root.display());
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(&wanted) {
            let _ = std::fs::remove_dir_all(&venv);
            crate::run_checked(
                Command::new("/usr/bin/python3")
                    .args(["-m", "venv"])
                    .arg(&venv),
                "/usr/bin/python3 -m venv (apt-get install python3-venv)",
            );
            crate::run_checked(
                Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet"])
                    .args(["--disable-pip-version-check", "--timeout", "30"])
                    .args(["--require-hashes", "-r"])
                    .arg(&requirements),
                "pip install the pinned pjsua2 wheel",
            );
            crate::run_checked(
                Command::new(&python).args(["-c", "import pjsua2"]),
                "import pjsua2",
            );
            std::fs::write(&marker, &wanted).unwrap();
        }
        drop(lock);
        python
    })
}

/// A running `pjsua2_peer.py`: what it printed so far, and its stdin for
/// commands.
pub struct Pjsua2 {
    child: Child,
    stdin: ChildStdin,
    seen: Arc<Mutex<Vec<Value>>>,
    /// Where it listens: `sip:USER@ADDRESS:PORT`.
    pub uri: String,
    /// PJSIP's own log (level 5, every SIP message) for a failing test.
    log: tempfile::NamedTempFile,
}

impl Pjsua2 {
    /// Starts pjsua2 as `user` (display name `name`) on a free loopback
    /// port, sending to `to` when told to; waits until it listens.
    pub fn start(user: &str, name: &str, to: Option<&str>) -> Pjsua2 {
        Pjsua2::spawn(user, name, to, "127.0.0.1", 0)
            .unwrap_or_else(|e| panic!("pjsua2 did not start: {e}"))
    }

    /// Like `start`, listening on port 5060 of a loopback address of its
    /// own (127.x.y.z): PJSIP writes its From without the port, so only a
    /// peer at the default port can be answered at the address its From
    /// names (the way a user replies to a message).
    pub fn start_at_5060(user: &str, name: &str, to: Option<&str>) -> Pjsua2 {
        let mut last = String::new();
        for attempt in 0..8u32 {
            let address = loopback_address(attempt);
            // Taken by another test (or anything else): try another one.
            if std::net::UdpSocket::bind((address.as_str(), 5060)).is_err() {
                continue;
            }
            match Pjsua2::spawn(user, name, to, &address, 5060) {
                Ok(peer) => return peer,
                Err(e) => last = e,
            }
        }
        panic!("pjsua2 found no free 127.x.y.z:5060: {last}")
    }

    fn spawn(
        user: &str,
        name: &str,
        to: Option<&str>,
        address: &str,
        port: u16,
    ) -> Result<Pjsua2, String> {
        let python = python();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(crate::workspace().join("tests/support/pjsua2_peer.py"))
            .args(["--user", user, "--name", name, "--address", address])
            .args(["--port", &port.to_string()])
            // A bound on its life if the test never closes its stdin.
            .args(["--seconds", "300", "--log"])
            .arg(log.path());
        if let Some(to) = to {
            cmd.args(["--to", to]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let stdin = child.stdin.take().unwrap();
        let seen = crate::json_lines(child.stdout.take().unwrap());
        let mut peer = Pjsua2 {
            child,
            stdin,
            seen,
            uri: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(ready) = peer.find(|e| e["event"] == "ready") {
                peer.uri = ready["uri"].as_str().unwrap().to_owned();
                return Ok(peer);
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                return Err(format!("exited ({status}) at {address}:{port}"));
            }
            if Instant::now() > deadline {
                return Err("not listening after 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a text/plain MESSAGE with `text` to its `to`.
    pub fn send_message(&mut self, text: &str) {
        self.command(serde_json::json!({ "message": text }));
    }

    /// Sends an isComposing to its `to`: `active` when `typing`, else `idle`.
    pub fn send_typing(&mut self, typing: bool) {
        self.command(serde_json::json!({ "typing": typing }));
    }

    fn command(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn find(&self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.seen.lock().unwrap().iter().find(|v| pred(v)).cloned()
    }

    /// Waits (20 s at most) for a line matching `pred`; fails naming `what`
    /// with everything it printed and PJSIP's log.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let found = crate::wait_for_log(&format!("{what} at pjsua2"), || {
            self.find(&pred).map(|v| v.to_string()).ok_or_else(|| {
                format!(
                    "{}\npjsua2's log:\n{}",
                    self.seen()
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    std::fs::read_to_string(self.log.path()).unwrap_or_default()
                )
            })
        });
        serde_json::from_str(&found).unwrap()
    }

    /// Everything it printed so far.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Pjsua2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address other tests are unlikely to pick at the same time:
/// from this process's id, the clock and `attempt`.
fn loopback_address(attempt: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(nanos)
        .wrapping_add(attempt.wrapping_mul(40_503));
    // 127.1.0.0 and up: 127.0.0.x is where everything else listens.
    format!(
        "127.{}.{}.{}",
        1 + (n >> 16) % 254,
        (n >> 8) & 0xff,
        1 + n % 254
    )
}
