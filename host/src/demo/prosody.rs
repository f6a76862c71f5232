//! The demo's throwaway XMPP server: Prosody on a free loopback port with
//! its own config and data in the demo's folder, every account in one
//! shared roster group (so everybody sees everybody, no subscriptions to
//! ask for), plain TCP because nothing leaves loopback.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::DemoError;

pub const DOMAIN: &str = "localhost";

pub struct Prosody {
    child: Child,
    pub port: u16,
}

impl Prosody {
    /// Starts Prosody with `users` (name, password) and waits until it
    /// accepts connections.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> Result<Prosody, DemoError> {
        if Command::new("prosody").arg("-v").output().is_err() {
            return Err(DemoError::NoProsody);
        }
        let data = dir.join("prosody-data");
        std::fs::create_dir_all(&data).map_err(|e| DemoError::io("prosody data folder", e))?;
        let groups: String = users
            .iter()
            .map(|(user, _)| format!("{user}@{DOMAIN}={user}\n"))
            .collect();
        std::fs::write(dir.join("groups.txt"), format!("[Demo]\n{groups}"))
            .map_err(|e| DemoError::io("groups.txt", e))?;
        let port = super::free_port().map_err(|e| DemoError::io("a free port", e))?;
        let config = dir.join("prosody.cfg.lua");
        let d = dir.display();
        let text = format!(
            r#"run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{data}"
daemonize = false
log = {{ info = "{d}/prosody.log" }}
authentication = "internal_hashed"
storage = "internal"
modules_enabled = {{ "roster", "saslauth", "disco", "carbons", "pep", "ping", "groups" }}
modules_disabled = {{ "s2s", "posix" }}
groups_file = "{d}/groups.txt"
c2s_ports = {{ {port} }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
network_backend = "epoll"
VirtualHost "{DOMAIN}"
"#,
            data = data.display()
        );
        std::fs::write(&config, text).map_err(|e| DemoError::io("prosody.cfg.lua", e))?;
        for (user, password) in users {
            let out = Command::new("prosodyctl")
                .arg("--config")
                .arg(&config)
                .args(["register", user, DOMAIN, password])
                .output()
                .map_err(|e| DemoError::io("prosodyctl", e))?;
            if !out.status.success() {
                return Err(DemoError::Prosody(format!(
                    "prosodyctl register {user}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        // Before its log is set up, Prosody says what is wrong on stderr.
        let stderr = std::fs::File::create(dir.join("prosody.err"))
            .map_err(|e| DemoError::io("prosody.err", e))?;
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0) // Ctrl-C is the demo's to handle (interrupt.rs)
            .spawn()
            .map_err(|e| DemoError::io("prosody", e))?;
        let mut server = Prosody { child, port };
        server.wait_until_listening(dir)?;
        Ok(server)
    }

    fn wait_until_listening(&mut self, dir: &Path) -> Result<(), DemoError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let log = || {
                let read = |f| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                let text = format!("{}{}", read("prosody.err"), read("prosody.log"));
                match text.trim() {
                    "" => "it wrote nothing".to_owned(),
                    said => said.to_owned(),
                }
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(DemoError::Prosody(format!("exited ({status}): {}", log())));
            }
            if Instant::now() > deadline {
                return Err(DemoError::Prosody(format!(
                    "not listening on port {} after 20 s: {}",
                    self.port,
                    log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        super::stop_child(&mut self.child);
    }
}
