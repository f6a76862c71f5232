//! A STUN server (RFC 8489) on the public side of a test's NAT: Debian's
//! coturn (`turnserver`) in STUN-only mode, no configuration file, no
//! database, listening on `netns::STUN` and `netns::STUN_OTHER` so that it
//! names its other address (RFC 5780 OTHER-ADDRESS, port + 1) in answers.

use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use crate::netns::{Network, Place, STUN, STUN_OTHER};

/// The port it listens on at both addresses (its other port is the next
/// one). Fixed: the namespace is the test's own.
pub const PORT: u16 = 3478;

pub struct StunServer {
    child: Child,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl StunServer {
    /// Starts it in `network`'s public side; returns once it listens.
    pub fn start(network: &Network) -> StunServer {
        let dir = tempfile::tempdir().unwrap();
        // Its own, empty configuration: without one coturn reads Debian's
        // /etc/turnserver.conf, whose `syslog` takes its log from us (the
        // wait below would never see it listen) and whose `no-rfc5780`
        // drops the OTHER-ADDRESS the NAT tests rely on.
        let config = dir.path().join("turnserver.conf");
        std::fs::write(&config, "").unwrap();
        let mut child = network
            .command(Place::Public, "turnserver")
            .arg("-c")
            .arg(&config)
            .args(["--stun-only", "--no-cli", "--no-tls", "--no-dtls"])
            .args(["--listening-ip", STUN, "--listening-ip", STUN_OTHER])
            .args(["--listening-port", &PORT.to_string()])
            .args(["--log-file", "stdout", "--simple-log"])
            .arg("--pidfile")
            .arg(dir.path().join("turnserver.pid"))
            .arg("--db")
            .arg(dir.path().join("turndb"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run turnserver (tools/install-packages tests: coturn)");
        let log = crate::capture_output(&mut child);
        let mut server = StunServer {
            child,
            log,
            _dir: dir,
        };
        server.wait_for("Total General servers");
        server
    }

    /// `host:port`, as `stun_server` takes it.
    pub fn address(&self) -> String {
        format!("{STUN}:{PORT}")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_for(&mut self, needle: &str) -> String {
        crate::wait_for_log(&format!("{needle:?} from turnserver"), || {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited ({status}):\n{log}");
            }
            Err(log)
        })
    }
}

impl Drop for StunServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
