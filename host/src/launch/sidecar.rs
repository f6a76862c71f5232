//! A `tandem run` child: started with a config file, its log (stderr) handed
//! line by line to the caller, stopped politely. The demo shows the lines on
//! its screen, the tests keep them to wait on: one launcher, two sinks.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How to start one `tandem run`.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `tandem` executable.
    pub exe: PathBuf,
    /// Its `tandem.toml`.
    pub config: PathBuf,
    /// `RUST_LOG` for the daemon.
    pub log_filter: String,
    /// Variables set for the daemon (a sound server's, a CA file).
    pub env: Vec<(OsString, OsString)>,
    /// Variables taken away, so the caller's environment does not leak in.
    pub env_remove: Vec<OsString>,
    /// In a process group of its own, so a Ctrl-C in the caller's terminal
    /// is the caller's to handle (the demo stops its children itself).
    pub own_process_group: bool,
}

impl Launch {
    /// `exe run --config config` at `info`, inheriting the environment.
    pub fn new(exe: impl Into<PathBuf>, config: impl Into<PathBuf>) -> Launch {
        Launch {
            exe: exe.into(),
            config: config.into(),
            log_filter: "info".to_owned(),
            env: Vec::new(),
            env_remove: Vec::new(),
            own_process_group: false,
        }
    }

    /// Starts it; `on_line` gets each line it logs, on a thread of its own,
    /// until it exits.
    pub fn start(
        &self,
        mut on_line: impl FnMut(String) + Send + 'static,
    ) -> std::io::Result<Sidecar> {
        let mut command = Command::new(&self.exe);
        command
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for key in &self.env_remove {
            command.env_remove(key);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.own_process_group {
            command.process_group(0);
        }
        let mut child = command.spawn()?;
        let stderr = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                on_line(line);
            }
        });
        Ok(Sidecar {
            child,
            config: self.config.clone(),
            stopped: false,
        })
    }
}

/// A running `tandem run`; dropping it stops it (SIGTERM, a kill after 5 s),
/// so the daemon gets to unregister and log off.
pub struct Sidecar {
    child: Child,
    config: PathBuf,
    stopped: bool,
}

impl Sidecar {
    /// The daemon's process id (for CPU and memory readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it now (as dropping it would), waiting until it has exited.
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            super::terminate(&mut self.child);
        }
    }

    /// The config it was started with.
    pub fn config(&self) -> &Path {
        &self.config
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.stop();
    }
}
