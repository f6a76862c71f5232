//! What the benchmarks read about a run: percentiles of sorted samples and
//! a process's CPU time and memory from `/proc`.

/// A bench's knob from the environment (`TANDEM_BENCH_N=300`), or
/// `default` when unset or not a `T`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The wall clock in seconds since the Unix epoch: the clock slixmpp's
/// `time.time()` and sipp's stamps use, so times taken in this process and
/// in theirs can be subtracted.
pub fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The `p` quantile (0..=1) of ascending `sorted`, nearest rank; NaN when
/// there are no samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// utime + stime of a process so far, in seconds (0 once it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are the 12th and 13th of those.
    let ticks: f64 = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// A `/proc/PID/status` memory line (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The same, in MiB (0 when unreadable).
pub fn status_mib(pid: u32, field: &str) -> f64 {
    status_kib(pid, field).unwrap_or(0) as f64 / 1024.0
}

/// Tandem inside a bench's own process, asked through its bus (no process
/// boundary in the timing), with the answers the chat benches wait on.
pub struct InProcess {
    pub daemon: tandem::daemon::Daemon,
    rt: tokio::runtime::Runtime,
    /// Its folder and its plugins' (kept while it runs).
    _folders: Vec<tempfile::TempDir>,
}

impl InProcess {
    /// Alice's sidecar on `server` with `plugins` (crate names), the
    /// shipped sip-chat.lua, SIP on a free loopback port without a
    /// `message_rate` (benches send fast from one address), and
    /// `xmpp_extra` in `[plugins.xmpp]`; `files` are written beside the
    /// config first (a bridge account's password, say).
    pub fn with_sip_chat(
        server: &crate::prosody::Prosody,
        alice: &str,
        plugins: &[&str],
        xmpp_extra: &str,
        files: &[(&str, &str)],
    ) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let plugins = crate::plugin_folder(plugins);
        crate::write(dir.path(), "password", "alice-secret");
        for (name, text) in files {
            crate::write(dir.path(), name, text);
        }
        let rule =
            std::fs::read_to_string(crate::workspace().join("scripts/sip-chat.lua")).unwrap();
        crate::write(dir.path(), "scripts/sip-chat.lua", &rule);
        let config = crate::write(
            dir.path(),
            "tandem.toml",
            &format!(
                "[host]\nplugin_dirs = [{:?}]\ndefault_plugin_dirs = false\nscript_dirs = [{:?}]\n[log]\nlevel = \"warn\"\n\
                 [plugins.xmpp]\njid = {alice:?}\npassword_file = \"password\"\nhost = \"127.0.0.1\"\nport = {}\nnotes_path = {:?}\n{xmpp_extra}\n\
                 [plugins.sip]\nlisten = \"127.0.0.1:0\"\nuser = \"alice\"\nmessage_rate = 0\n",
                plugins.path().display().to_string(),
                dir.path().join("scripts").display().to_string(),
                server.port,
                dir.path().join("notes.json").display().to_string(),
            ),
        );
        std::env::set_var("SSL_CERT_FILE", server.ca());
        let mut started = InProcess::start(&config);
        started._folders = vec![dir, plugins];
        started
    }

    /// Starts it from the config file at `config` (see
    /// [`crate::in_process_daemon`]).
    pub fn start(config: &std::path::Path) -> InProcess {
        InProcess {
            daemon: crate::in_process_daemon(config),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            _folders: Vec::new(),
        }
    }

    /// What `command` (no arguments) answers.
    pub fn status(&self, command: &str) -> serde_json::Value {
        self.rt
            .block_on(tandem::bus::call(
                &self.daemon.bus,
                command,
                tandem_sdk::Payload::from(serde_json::json!({})),
                std::time::Duration::from_secs(5),
            ))
            .unwrap()
            .decode()
            .unwrap()
    }

    /// The UDP port the SIP plugin listens on.
    pub fn sip_port(&self) -> u16 {
        let status = self.status("sip.status");
        status["listening"][0]
            .as_str()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no SIP port in {status}"))
    }

    /// Waits (20 s at most) until the sidecar knows the user's client
    /// `jid` is online: notes go to it only then.
    pub fn wait_own_resource(&self, jid: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let status = self.status("xmpp.status");
            if status["own_resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|j| j == jid))
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sidecar never saw {jid}: {status}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn shutdown(self) {
        self.daemon.shutdown();
    }
}

/// The `i`th out-of-dialog MESSAGE from Bob at `from_port` to Alice at
/// `port` on loopback, as one UDP datagram.
pub fn sip_message(i: usize, port: u16, from_port: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:alice@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{from_port};branch=z9hG4bK-bench-{i}\r\n\
         From: \"Bob\" <sip:bob@127.0.0.1:{from_port}>;tag=b{i}\r\n\
         To: <sip:alice@127.0.0.1:{port}>\r\n\
         Call-ID: bench-{i}@127.0.0.1\r\n\
         CSeq: 1 MESSAGE\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Prints a bench's two paths side by side as a Markdown table: p50 and
/// p99 of each (in ms), Tandem's added latency and the ratio.
pub fn print_side_by_side(
    heading: &str,
    tandem: (&str, &mut [f64]),
    reference: (&str, &mut [f64]),
) {
    for v in [&mut *tandem.1, &mut *reference.1] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    let (t50, t99) = (percentile(tandem.1, 0.5), percentile(tandem.1, 0.99));
    let (r50, r99) = (percentile(reference.1, 0.5), percentile(reference.1, 0.99));
    println!("{heading}");
    println!("| path | p50 | p99 |");
    println!("|---|---|---|");
    println!("| {} | {t50:.2} ms | {t99:.2} ms |", tandem.0);
    println!("| reference: {} | {r50:.2} ms | {r99:.2} ms |", reference.0);
    println!(
        "| Tandem's added latency (difference) | {:.2} ms | {:.2} ms |",
        t50 - r50,
        t99 - r99
    );
    println!(
        "| ratio Tandem / reference | {:.2} | {:.2} |",
        t50 / r50,
        t99 / r99
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_ranks_samples() {
        let me = std::process::id();
        assert!(status_kib(me, "VmRSS").unwrap() > 0);
        assert!(status_kib(me, "VmHWM").unwrap() >= status_kib(me, "VmRSS").unwrap());
        assert_eq!(status_kib(me, "NoSuchField"), None);
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {}
        assert!(cpu_seconds(me) > 0.0);
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
