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

/// The value after `name` in sipp's arguments.
fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == name)
        .and_then(|i| args.get(i + 1).copied())
}

/// Whether sipp is given a target to call (`host:port`, as our tests
/// always write it): a UAC; a UAS has none.
fn has_target(args: &[&str]) -> bool {
    args.iter()
        .any(|a| a.parse::<std::net::SocketAddr>().is_ok())
}

/// Whether sipp's `-t` makes it listen on TCP (`t1`, `tn`) or TLS (`l1`,
/// `ln`) rather than UDP.
fn listens_on_tcp(args: &[&str]) -> bool {
    flag(args, "-t").is_some_and(|t| t.starts_with('t') || t.starts_with('l'))
}

/// Whether a `/proc/net/{udp,tcp}[6]` table has a socket on local `port`
/// (for TCP, one listening: state 0A).
fn holds(table: &str, port: u16, tcp: bool) -> bool {
    let wanted = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1).is_some_and(|local| local.ends_with(&wanted))
            && (!tcp || fields.get(3) == Some(&"0A"))
    })
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
        let mut background = Background { child };
        // A sipp that waits to be called is not called before it listens:
        // on a loaded machine a fixed pause was not always enough (a call
        // to it over TCP was refused). One that calls (it has a target)
        // sends first; the pause only spaces it from what follows.
        let port = flag(args, "-p").and_then(|p| p.parse().ok());
        match port.filter(|_| !has_target(args)) {
            Some(port) => background.wait_bound(port, listens_on_tcp(args), cwd),
            None => std::thread::sleep(Duration::from_millis(300)),
        }
        background
    }

    /// Returns once sipp holds `port` (listening, for TCP and TLS), read
    /// from its own `/proc/PID/net` so a network namespace is no matter;
    /// fails the test with sipp's output if it exits first (the port was
    /// taken, a scenario did not parse) or has not bound it in 20 s.
    fn wait_bound(&mut self, port: u16, tcp: bool, cwd: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let tables: &[&str] = if tcp {
            &["tcp", "tcp6"]
        } else {
            &["udp", "udp6"]
        };
        loop {
            let proc_net = format!("/proc/{}/net", self.child.id());
            let bound = tables.iter().any(|table| {
                let text = std::fs::read_to_string(format!("{proc_net}/{table}"));
                text.is_ok_and(|text| holds(&text, port, tcp))
            });
            if bound {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "sipp exited ({status}) before listening on port {port}:\n{}\n{}",
                    self.output(),
                    error_log(cwd)
                );
            }
            assert!(
                Instant::now() < deadline,
                "sipp did not listen on port {port} in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// sipp playing `scenario` (a file in `tests/sipp/`) for one call on
    /// `port`.
    pub fn once(scenario: &str, port: &str, cwd: &Path) -> Background {
        let path = scenario_path(scenario);
        Background::start(&["-sf", &path, "-m", "1", "-p", port], cwd)
    }

    /// What sipp printed, once it has exited: stdout, then stderr.
    fn output(&mut self) -> String {
        use std::io::Read;
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).ok();
        }
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut out).ok();
        }
        out
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
                assert!(
                    status.success(),
                    "sipp failed ({status}):\n{}\n{}",
                    self.output(),
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

/// Bob (sipp, from `sip:bob@127.0.0.1:<peer_port>`) offers the file at
/// `url`, named `name`, `size` bytes, to the SIP plugin on `sip_port` the
/// way liblinphone does (a MESSAGE with RCS file-info), and gets its 200.
pub fn offer_file(sip_port: u16, url: &str, name: &str, size: u64, peer_port: &str, cwd: &Path) {
    run_ok(
        &[
            "-sf",
            &scenario_path("file_offer_rcs.xml"),
            "-m",
            "1",
            "-key",
            "url",
            url,
            "-key",
            "name",
            name,
            "-key",
            "size",
            &size.to_string(),
            "-key",
            "peer_port",
            peer_port,
            &format!("127.0.0.1:{sip_port}"),
        ],
        cwd,
    );
}

/// The path of a scenario file in `tests/sipp/`.
pub fn scenario_path(name: &str) -> String {
    crate::workspace()
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}

/// The flags of a measured run at `rate` for `calls` calls: many calls
/// at once, sipp's counters written to `stats` every second (read with
/// [`Stats::read`]) and every response time to a `*_rtt.csv` in its folder
/// (read with [`response_times_ms`]); and bounded by `seconds` + 30 s.
pub fn measured(rate: u32, calls: u32, stats: &Path, seconds: u32) -> Vec<String> {
    let stats = stats.to_str().unwrap();
    let calls = calls.to_string();
    let rate = rate.to_string();
    let timeout = format!("{}s", seconds + 30);
    [
        "-r",
        &rate,
        "-m",
        &calls,
        "-l",
        "100000",
        "-max_recv_loops",
        "10000",
        "-trace_stat",
        "-stf",
        stats,
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-timeout",
        &timeout,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The last row of a `-trace_stat` file (`-stf PATH`): sipp's cumulative
/// counters at the end of a run.
pub struct Stats {
    header: Vec<String>,
    last: Vec<String>,
}

impl Stats {
    /// Reads `path`; an absent or empty file has no columns.
    pub fn read(path: &Path) -> Stats {
        let csv = std::fs::read_to_string(path).unwrap_or_default();
        let mut lines = csv.lines();
        let split = |l: &str| l.split(';').map(str::to_owned).collect::<Vec<_>>();
        let header = split(lines.next().unwrap_or(""));
        let last = split(lines.last().unwrap_or(""));
        Stats { header, last }
    }

    /// A column of the last row by name (`"CallRate(C)"`), "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.header
            .iter()
            .position(|h| h == name)
            .and_then(|i| self.last.get(i))
            .map_or("", String::as_str)
    }

    /// A counter (`"SuccessfulCall(C)"`); `u64::MAX` when absent, so a
    /// missing column never passes for zero failures.
    pub fn count(&self, name: &str) -> u64 {
        self.field(name).parse().unwrap_or(u64::MAX)
    }
}

/// The response times (ms) in every `-trace_rtt` file in `dir`, sorted.
pub fn response_times_ms(dir: &Path) -> Vec<f64> {
    let mut rtts: Vec<f64> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().contains("_rtt.csv"))
        .flat_map(|f| {
            std::fs::read_to_string(f.path())
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| l.split(';').nth(2)?.parse::<f64>().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    rtts.sort_by(|a, b| a.total_cmp(b));
    rtts
}
