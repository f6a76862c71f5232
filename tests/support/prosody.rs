//! A throwaway Prosody on loopback: own config, data folder, a test CA and a
//! certificate for `localhost`, a free port, accounts made with
//! `prosodyctl`. Started, waited for and killed by the host's launcher
//! (`tandem::launch::prosody`, shared with `tandem demo`); stopped (and its
//! folder removed) when dropped.

use std::path::PathBuf;

use tandem::launch::prosody::Prosody as Server;

/// The XMPP domain of every test server.
pub use tandem::launch::prosody::DOMAIN;

pub struct Prosody {
    /// Declared before `dir`: the server is killed before its folder goes.
    server: Server,
    dir: tempfile::TempDir,
    pub port: u16,
    /// Where it takes XEP-0368 direct TLS (TLS from the first byte).
    pub direct_tls_port: u16,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    tandem::launch::free_port().unwrap()
}

impl Prosody {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Prosody {
        Prosody::start_configured(false, 1024 * 1024)
    }

    /// The same, its file share taking files up to `limit` bytes (the
    /// others take 1 MiB): for benches moving large files.
    pub fn start_with_upload_limit(limit: u64) -> Prosody {
        Prosody::start_configured(false, limit)
    }

    /// The same, letting clients create accounts (XEP-0077 in-band
    /// registration: `allow_registration`), as some public servers do.
    pub fn start_with_registration() -> Prosody {
        Prosody::start_configured(true, 1024 * 1024)
    }

    fn start_configured(registration: bool, upload_limit: u64) -> Prosody {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        crate::certs::make(d);
        std::fs::create_dir(d.join("data")).unwrap();
        let port = free_port();
        let direct_tls_port = free_port();
        // XEP-0363 uploads (issue 22): Prosody's own file share, plain
        // HTTP on loopback, its URLs naming the address rather than a
        // host name the machine may not resolve.
        let http_port = free_port();
        let (register, allow_registration) = if registration {
            (r#", "register""#, "true")
        } else {
            ("", "false")
        };
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
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "carbons", "pep", "ping", "private", "offline", "smacks", "vcard"{register} }}
allow_registration = {allow_registration}
modules_disabled = {{ "s2s", "posix" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ {direct_tls_port} }}
c2s_direct_tls_ssl = {{ key = "{d}/server.key", certificate = "{d}/server.pem" }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
c2s_require_encryption = true
network_backend = "epoll"
http_ports = {{ {http_port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
http_external_url = "http://127.0.0.1:{http_port}/"
http_default_host = "upload.{DOMAIN}"
VirtualHost "{DOMAIN}"
  ssl = {{ key = "{d}/server.key", certificate = "{d}/server.pem" }}
Component "upload.{DOMAIN}" "http_file_share"
  http_file_share_size_limit = {upload_limit}
"#,
            d = d.display()
        );
        let mut server = Server::configure(d, &config, &[port, direct_tls_port])
            .unwrap_or_else(|e| panic!("{e} (.ci/run installs it)"));
        server.start().unwrap_or_else(|e| panic!("prosody: {e}"));
        Prosody {
            server,
            dir,
            port,
            direct_tls_port,
        }
    }

    /// Creates `user@localhost`.
    pub fn register(&self, user: &str, password: &str) -> String {
        self.server
            .register(user, password)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Kills the server and starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    /// Kills the server (clients see their connection drop).
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Starts a stopped server again on the same port and data.
    pub fn resume(&mut self) {
        self.server
            .start()
            .unwrap_or_else(|e| panic!("prosody did not come back: {e}"));
    }

    pub fn config(&self) -> PathBuf {
        self.server.config()
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn log(&self) -> String {
        self.server.log()
    }
}
