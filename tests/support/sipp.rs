//! sipp, the SIP test tool, run as a real peer: its built-in scenarios and
//! our own XML ones, each on a free loopback port, bounded in time.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A UDP port nobody uses right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `sipp` with the flags every test wants: loopback only (control socket
/// too), one call unless `args` says otherwise, and a global timeout.
pub fn command(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new("sipp");
    command
        .current_dir(cwd)
        .args(["-i", "127.0.0.1", "-ci", "127.0.0.1", "-nostdin"])
        // Its own control port: two sipps on the default one collide.
        .args(["-cp", &free_udp_port().to_string()])
        .args(["-timeout", "30s", "-timeout_error", "-trace_err"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs sipp to the end; fails the test with sipp's output if it did not
/// exit 0 (every call successful).
pub fn run_ok(args: &[&str], cwd: &Path) -> Output {
    let out = command(args, cwd)
        .output()
        .expect("cannot run sipp (apt-get install sip-tester)");
    assert!(
        out.status.success(),
        "sipp {args:?} failed ({}):\n{}\n{}\nerrors: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        error_log(cwd),
    );
    out
}

/// sipp's `-trace_err` file, if any.
pub fn error_log(cwd: &Path) -> String {
    std::fs::read_dir(cwd)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

/// sipp running in the background (a UAS waiting for our call).
pub struct Background {
    child: Child,
}

impl Background {
    pub fn start(args: &[&str], cwd: &Path) -> Background {
        // A first test run builds the plugins in the next step; a peer
        // started before that would time out waiting for the sidecar.
        crate::build_artifacts();
        let child = command(args, cwd).spawn().expect("cannot run sipp");
        // Give it time to bind before anyone sends to it.
        std::thread::sleep(Duration::from_millis(300));
        Background { child }
    }

    /// sipp playing `scenario` (a file in `tests/sipp/`) for one call on
    /// `port`.
    pub fn once(scenario: &str, port: &str, cwd: &Path) -> Background {
        let path = scenario_path(scenario);
        Background::start(&["-sf", &path, "-m", "1", "-p", port], cwd)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for sipp to finish; its exit status says whether every call
    /// went as the scenario says.
    pub fn wait_ok(mut self, cwd: &Path) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                if let Some(mut stdout) = self.child.stdout.take() {
                    std::io::Read::read_to_string(&mut stdout, &mut out).ok();
                }
                assert!(
                    status.success(),
                    "sipp failed ({status}):\n{out}\n{}",
                    error_log(cwd)
                );
                return;
            }
            assert!(Instant::now() < deadline, "sipp did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a scenario file in `tests/sipp/`.
pub fn scenario_path(name: &str) -> String {
    crate::workspace()
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}
