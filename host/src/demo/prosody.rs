//! The demo's throwaway XMPP server: Prosody on a free loopback port with
//! its own config and data in the demo's folder, every account in one
//! shared roster group (so everybody sees everybody, no subscriptions to
//! ask for), plain TCP because nothing leaves loopback.

use std::path::Path;

use super::DemoError;
use crate::launch::prosody::{LaunchError, Prosody as Server};

pub use crate::launch::prosody::DOMAIN;

pub struct Prosody {
    server: Server,
    pub port: u16,
}

impl From<LaunchError> for DemoError {
    fn from(e: LaunchError) -> DemoError {
        match e {
            LaunchError::NotInstalled => DemoError::NoProsody,
            other => DemoError::Prosody(other.to_string()),
        }
    }
}

impl Prosody {
    /// Starts Prosody with `users` (name, password) and waits until it
    /// accepts connections.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> Result<Prosody, DemoError> {
        let data = dir.join("prosody-data");
        std::fs::create_dir_all(&data).map_err(|e| DemoError::io("prosody data folder", e))?;
        let groups: String = users
            .iter()
            .map(|(user, _)| format!("{user}@{DOMAIN}={user}\n"))
            .collect();
        std::fs::write(dir.join("groups.txt"), format!("[Demo]\n{groups}"))
            .map_err(|e| DemoError::io("groups.txt", e))?;
        let port = super::free_port().map_err(|e| DemoError::io("a free port", e))?;
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
        // Ctrl-C is the demo's to handle (interrupt.rs).
        let mut server = Server::configure(dir, &text, &[port])?.in_own_process_group();
        for (user, password) in users {
            server.register(user, password)?;
        }
        server.start()?;
        Ok(Prosody { server, port })
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.server.terminate();
    }
}
