//! A throwaway Prosody on loopback: own config, data folder, a test CA and a
//! certificate for `localhost`, a free port, accounts made with
//! `prosodyctl`. Stopped (and its folder removed) when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The XMPP domain of every test server.
pub const DOMAIN: &str = "localhost";

pub struct Prosody {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    /// Where it takes XEP-0368 direct TLS (TLS from the first byte).
    pub direct_tls_port: u16,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prosody {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Prosody {
        assert!(
            Command::new("prosody").arg("-v").output().is_ok(),
            "prosody is not installed (apt-get install prosody; .ci/run does it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        crate::certs::make(d);
        std::fs::create_dir(d.join("data")).unwrap();
        let port = free_port();
        let direct_tls_port = free_port();
        // Logged at info, Prosody's default: at debug it writes every
        // stanza to its log file, which added ≈ 1 ms to the median of the
        // presence path the benchmarks measure (docs/benchmarks.md, issue 5).
        let config = format!(
            r#"run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
daemonize = false
log = {{ info = "{d}/prosody.log", error = "*stderr" }}
authentication = "internal_hashed"
storage = "internal"
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "carbons", "pep", "ping", "private", "offline", "smacks", "vcard" }}
modules_disabled = {{ "s2s", "posix" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ {direct_tls_port} }}
c2s_direct_tls_ssl = {{ key = "{d}/server.key", certificate = "{d}/server.pem" }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
c2s_require_encryption = true
network_backend = "epoll"
VirtualHost "{DOMAIN}"
  ssl = {{ key = "{d}/server.key", certificate = "{d}/server.pem" }}
"#,
            d = d.display()
        );
        std::fs::write(d.join("prosody.cfg.lua"), config).unwrap();
        let child = Command::new("prosody")
            .arg("--config")
            .arg(d.join("prosody.cfg.lua"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start prosody");
        let mut server = Prosody {
            dir,
            child: Some(child),
            port,
            direct_tls_port,
        };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let listening = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !listening(self.port) || !listening(self.direct_tls_port) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("prosody exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "prosody does not listen on {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates `user@localhost`.
    pub fn register(&self, user: &str, password: &str) -> String {
        crate::run_checked(
            Command::new("prosodyctl")
                .arg("--config")
                .arg(self.config())
                .args(["register", user, DOMAIN, password]),
            "prosodyctl register",
        );
        format!("{user}@{DOMAIN}")
    }

    /// Kills the server and starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    /// Kills the server (clients see their connection drop).
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts a stopped server again on the same port and data.
    pub fn resume(&mut self) {
        let child = Command::new("prosody")
            .arg("--config")
            .arg(self.config())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot restart prosody");
        self.child = Some(child);
        self.wait_until_listening();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default()
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.kill();
    }
}
