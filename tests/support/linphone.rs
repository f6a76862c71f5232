//! linphonec (Debian's `linphone-cli`, liblinphone 5) as a real SIP peer:
//! its own HOME and config in a temp folder, UDP only, at port 5060 of a
//! loopback address of its own, driven through its stdin (`chat URI TEXT`)
//! and read from its stdout (`Message received from URI: TEXT`).
//!
//! Two habits of linphonec shape this: it drops the port of the URI it
//! chats with (it writes to `sip:alice@127.0.0.1`, port 5060), and its From
//! names no port (nor a display name). So it listens at 5060 of its own
//! address, where a reply to its From arrives, and reaches a peer at
//! another port as its outbound proxy (`[proxy_0]`, no REGISTER): the
//! MESSAGE, unchanged (no `Route`), goes to the proxy's address and port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Linphonec {
    child: Child,
    stdin: ChildStdin,
    /// Its stdout and stderr.
    output: Arc<Mutex<String>>,
    /// Its HOME, config and log (`-d 6`: every SIP message).
    home: tempfile::TempDir,
    /// Its own address: `sip:USER@127.x.y.z` (port 5060).
    pub uri: String,
}

impl Linphonec {
    /// Starts linphonec as `user` at port 5060 of a loopback address of its
    /// own, sending through the outbound proxy `proxy` (`127.0.0.1:PORT`);
    /// waits until it listens.
    pub fn start_at_5060(user: &str, proxy: &str) -> Linphonec {
        Linphonec::start_with(user, proxy, "")
    }

    /// As `start_at_5060`, downloading every file a peer offers at once
    /// (RCS file transfer), into [`Linphonec::downloads`] under the name
    /// the sender gave.
    pub fn start_receiving_files(user: &str, proxy: &str) -> Linphonec {
        Linphonec::start_with(
            user,
            proxy,
            "[app]\nauto_download_incoming_files_max_size=0\n",
        )
    }

    /// Where it saves the files it downloads.
    pub fn downloads(&self) -> PathBuf {
        self.home.path().join(".local/share/linphone")
    }

    fn start_with(user: &str, proxy: &str, extra: &str) -> Linphonec {
        let mut last = String::new();
        for attempt in 0..8u32 {
            let address = loopback_address(attempt);
            // Taken (by another test, or anything else): try another one.
            if std::net::UdpSocket::bind((address.as_str(), 5060)).is_err() {
                continue;
            }
            match Linphonec::spawn(user, proxy, &address, extra) {
                Ok(peer) => return peer,
                Err(e) => last = e,
            }
        }
        panic!("linphonec found no free 127.x.y.z:5060: {last}")
    }

    fn spawn(user: &str, proxy: &str, address: &str, extra: &str) -> Result<Linphonec, String> {
        let program = on_path("linphonec").expect(
            "no linphonec on PATH (apt-get install linphone-cli; see tools/install-packages)",
        );
        let home = tempfile::tempdir().unwrap();
        // Without it liblinphone cannot open its database, and linphonec
        // crashes (SIGSEGV) at the first `chat`.
        std::fs::create_dir_all(home.path().join(".local/share/linphone")).unwrap();
        // No sound server is needed for messages: never start one.
        crate::write(home.path(), ".config/pulse/client.conf", "autospawn = no\n");
        // Nor leave its runtime folder in /tmp (its fallback without one).
        let runtime = home.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        // belr looks for its grammars in its install prefix's
        // share/belr/grammars and, last, in share/belr/grammars under the
        // working folder (linphonec's HOME): the link makes a linphonec
        // unpacked outside /usr (no root) find them too.
        let prefix = program.parent().and_then(Path::parent).unwrap();
        std::os::unix::fs::symlink(prefix.join("share"), home.path().join("share")).unwrap();
        let uri = format!("sip:{user}@{address}");
        let config = format!(
            "[sip]\nsip_udp_port=5060\nsip_tcp_port=0\nsip_tls_port=0\n\
             bind_address={address}\nguess_hostname=0\ncontact=<{uri}>\n\
             default_proxy=0\n\n\
             [proxy_0]\nreg_proxy=sip:{proxy}\nreg_identity=<{uri}>\n\
             reg_sendregister=0\npublish=0\n\n\
             [video]\ncapture=0\ndisplay=0\n\n{extra}"
        );
        let rc = crate::write(home.path(), "linphonerc", &config);
        let log = home.path().join("linphonec.log");
        let mut child = Command::new(&program)
            .arg("-c")
            .arg(&rc)
            .args(["-d", "6", "-l"])
            .arg(&log)
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let stdin = child.stdin.take().unwrap();
        let output = crate::capture_output(&mut child);
        let mut peer = Linphonec {
            child,
            stdin,
            output,
            home,
            uri,
        };
        let listening = format!("on [sip:{address}:5060;transport=UDP]");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if peer.sip_log().contains(&listening) {
                return Ok(peer);
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                return Err(format!(
                    "exited ({status}) at {address}:5060:\n{}",
                    peer.output()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not listening at {address}:5060 after 20 s:\n{}",
                    peer.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `text` (one line) to `to` as a MESSAGE: linphonec's `chat`.
    pub fn send_message(&mut self, to: &str, text: &str) {
        assert!(!text.contains('\n'), "linphonec reads one line: {text:?}");
        writeln!(self.stdin, "chat {to} {text}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits (20 s at most) until linphonec has printed `text` as a message
    /// received; returns that line (`Message received from URI: TEXT`).
    /// Fails with its output and its SIP log.
    pub fn wait_for_message(&self, text: &str) -> String {
        let what = format!("message {text:?} printed by linphonec");
        let log = crate::wait_for_log(&what, || {
            let output = self.output();
            if self.received().iter().any(|(_, t)| t == text) {
                Ok(output)
            } else {
                Err(format!("{output}\nlinphonec's log:\n{}", self.sip_log()))
            }
        });
        log.lines()
            .find(|l| l.contains("Message received from ") && l.ends_with(&format!(": {text}")))
            .unwrap()
            .to_owned()
    }

    /// Waits (20 s at most) until `count` of the MESSAGEs it sent were
    /// answered 2xx (liblinphone logs each as moving to Delivered).
    pub fn wait_for_delivered(&self, count: usize) {
        let what = format!("{count} of linphonec's messages delivered");
        crate::wait_for_log(&what, || {
            let log = self.sip_log();
            if log.matches("moving from InProgress to Delivered").count() >= count {
                Ok(log)
            } else {
                Err(format!("{}\nlinphonec's log:\n{log}", self.output()))
            }
        });
    }

    /// The messages it printed so far: (from, text), in order.
    pub fn received(&self) -> Vec<(String, String)> {
        self.output()
            .lines()
            .filter_map(|l| l.split_once("Message received from ").map(|(_, m)| m))
            .filter_map(|m| m.split_once(": "))
            .map(|(from, text)| (from.to_owned(), text.to_owned()))
            .collect()
    }

    /// What it printed (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Its own log (`-d 6`), every SIP message in and out.
    pub fn sip_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("linphonec.log")).unwrap_or_default()
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` as found on PATH, as `Command` would run it.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A loopback address, 127.x.y.z, other tests are unlikely to pick at the
/// same time: x.y from an ephemeral port this process holds a moment (no
/// two processes hold the same one), z from `attempt`.
fn loopback_address(attempt: u32) -> String {
    let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    // Ephemeral ports are above 1023: never 127.0.0.z, where everything
    // else listens.
    format!("127.{}.{}.{}", port >> 8, port & 0xff, 1 + attempt % 254)
}
