//! A throwaway Prosody: the caller's config text in its own folder, accounts
//! made with `prosodyctl`, started and waited for until every port it was
//! given accepts connections. Killed when dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The XMPP domain the demo and the tests serve.
pub const DOMAIN: &str = "localhost";

/// How long Prosody gets to listen after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("Prosody is not installed (sudo apt-get install prosody)")]
    NotInstalled,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("prosodyctl register {user}: {message}")]
    Register { user: String, message: String },
    #[error("exited ({status}): {log}")]
    Exited { status: ExitStatus, log: String },
    #[error("not listening on port {port} after {} s: {log}", START_TIMEOUT.as_secs())]
    NotListening { port: u16, log: String },
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> LaunchError + '_ {
    move |source| LaunchError::Io {
        what: what.to_owned(),
        source,
    }
}

/// Whether `prosody` can be run.
pub fn installed() -> bool {
    Command::new("prosody").arg("-v").output().is_ok()
}

/// One Prosody process (stopped, started, stopped again...).
pub struct Prosody {
    dir: PathBuf,
    ports: Vec<u16>,
    own_process_group: bool,
    child: Option<Child>,
}

impl Prosody {
    /// Writes `config` as `dir/prosody.cfg.lua`; `ports` are the ones
    /// [`Prosody::start`] waits for. Nothing runs yet.
    pub fn configure(dir: &Path, config: &str, ports: &[u16]) -> Result<Prosody, LaunchError> {
        if !installed() {
            return Err(LaunchError::NotInstalled);
        }
        std::fs::write(dir.join("prosody.cfg.lua"), config).map_err(io("prosody.cfg.lua"))?;
        Ok(Prosody {
            dir: dir.to_owned(),
            ports: ports.to_vec(),
            own_process_group: false,
            child: None,
        })
    }

    /// Runs it in a process group of its own, so a Ctrl-C in the terminal
    /// reaches only the caller (the demo handles it and stops everything).
    pub fn in_own_process_group(mut self) -> Prosody {
        self.own_process_group = true;
        self
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("prosody.cfg.lua")
    }

    /// Creates `user@DOMAIN`; returns the JID.
    pub fn register(&self, user: &str, password: &str) -> Result<String, LaunchError> {
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.config())
            .args(["register", user, DOMAIN, password])
            .output()
            .map_err(io("prosodyctl"))?;
        if !out.status.success() {
            return Err(LaunchError::Register {
                user: user.to_owned(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(format!("{user}@{DOMAIN}"))
    }

    /// Starts the server (again, after [`Prosody::kill`]) and waits until
    /// every port accepts connections.
    pub fn start(&mut self) -> Result<(), LaunchError> {
        self.kill();
        // Before its log is set up, Prosody says what is wrong on stderr.
        let stderr =
            std::fs::File::create(self.dir.join("prosody.err")).map_err(io("prosody.err"))?;
        let mut command = Command::new("prosody");
        command
            .arg("--config")
            .arg(self.config())
            .stdout(Stdio::null())
            .stderr(stderr);
        if self.own_process_group {
            command.process_group(0);
        }
        self.child = Some(command.spawn().map_err(io("prosody"))?);
        self.wait_until_listening()
    }

    fn wait_until_listening(&mut self) -> Result<(), LaunchError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = |port: &u16| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok();
        while let Some(&port) = self.ports.iter().find(|p| !listening(p)) {
            let child = self.child.as_mut().expect("started");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(LaunchError::Exited {
                    status,
                    log: self.diagnostics(),
                });
            }
            if Instant::now() > deadline {
                return Err(LaunchError::NotListening {
                    port,
                    log: self.diagnostics(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the server at once: its clients see their connection drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server politely (SIGTERM, a kill after 5 s).
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::terminate(&mut child);
        }
    }

    /// Its log file (`prosody.log`, as the config names it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }

    /// What it said on stderr and in its log, for an error message.
    pub fn diagnostics(&self) -> String {
        let err = std::fs::read_to_string(self.dir.join("prosody.err")).unwrap_or_default();
        match format!("{err}{}", self.log()).trim() {
            "" => "it wrote nothing".to_owned(),
            said => said.to_owned(),
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.kill();
    }
}
