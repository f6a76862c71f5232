//! The `tandem` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_tests::*;

/// Generous: these machines are shared; nothing here measures speed.
const T: Duration = Duration::from_secs(20);

fn tandem(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(tandem_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `tandem run` whose log lines are collected as they come.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Running {
    fn start(config: &Path, extra: &[&str]) -> Running {
        let mut child = Command::new(tandem_bin())
            .args(extra)
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Running { child, log }
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + T;
        loop {
            let log = self.log.lock().unwrap().clone();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status and the whole log.
    fn stop(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + T;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "tandem did not stop on SIGTERM:\n{}",
                    self.log.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let log = self.log.lock().unwrap().clone();
        (status.success(), log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A config file in `dir` using `plugins` and `dir/scripts`.
fn config(dir: &Path, plugins: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    write(
        dir,
        "tandem.toml",
        &format!(
            "[host]\nplugin_dirs = [{:?}]\ndefault_plugin_dirs = false\ncontrol_socket = \"control.sock\"\n\n{extra}",
            plugins.display().to_string()
        ),
    )
}

#[test]
fn plugins_lists_good_and_bad_files() {
    let plugins = plugin_folder(&["tandem_plugin_example", "tandem_fixture_not_a_plugin"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), plugins.path(), "");
    let (ok, out, _) = tandem(&["plugins", "--config", cfg.to_str().unwrap()]);
    assert!(ok);
    assert!(
        out.contains(&format!(
            "example {}  (SDK {})",
            env!("CARGO_PKG_VERSION"),
            tandem_sdk::SDK_VERSION
        )),
        "{out}"
    );
    assert!(out.contains("commands:     example.echo"), "{out}");
    assert!(out.contains("events:       example.ping"), "{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(out.contains("not a Tandem plugin"), "{out}");

    let (ok, json, _) = tandem(&["plugins", "--config", cfg.to_str().unwrap(), "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["plugins"][0]["manifest"]["id"], "example");
    assert_eq!(v["failed"].as_array().unwrap().len(), 1);

    // Without --config, ./tandem.toml is read, as `run` and `check` do.
    let out = Command::new(tandem_bin())
        .args(["plugins", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plugins"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["failed"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn check_accepts_a_good_setup() {
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "scripts/rule.lua",
        "tandem.on('example.pong', function(ev) tandem.log.info(ev.text) end)\n",
    );
    let cfg = config(
        dir.path(),
        plugins.path(),
        "[plugins.example]\nprefix = \"> \"\n[scripts.rule]\nenabled = true\n",
    );
    let (ok, out, _) = tandem(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("all good"), "{out}");
}

/// Where Debian's libopus0 puts the library the SIP plugin loads.
const LIBOPUS: &str = "/usr/lib/x86_64-linux-gnu/libopus.so.0";

/// `tandem check` of a SIP config whose `codecs` lists Opus first.
fn check_opus_config(dir: &Path) -> std::path::PathBuf {
    let plugins = plugin_folder(&["tandem_plugin_sip"]);
    let cfg = config(
        dir,
        plugins.path(),
        "[plugins.sip]\nlisten = \"127.0.0.1:0\"\ncodecs = [\"opus\", \"PCMU\", \"G722\"]\n",
    );
    // The plugin is copied; the folder must outlive the check.
    std::mem::forget(plugins);
    cfg
}

#[test]
fn check_says_plainly_when_a_configured_codec_cannot_run_here() {
    // libopus made unloadable for this one process, as on a machine
    // without libopus0: in a mount namespace of its own, the library's
    // file is an empty one (dlopen: "file too short").
    let dir = tempfile::tempdir().unwrap();
    let cfg = check_opus_config(dir.path());
    let library = std::fs::canonicalize(LIBOPUS).expect("libopus0 is installed for the tests");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind /dev/null \"$0\" && exec \"$@\"")
        .arg(&library)
        .arg(tandem_bin())
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a note, not an error: {text}");
    assert!(
        text.contains(
            "note   [plugins.sip]: Opus is in `codecs` but libopus is not installed here \
             (install libopus0); calls will use PCMU, G722"
        ),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_says_nothing_of_codecs_that_can_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = check_opus_config(dir.path());
    let (ok, out, _) = tandem(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(!out.contains("note"), "{out}");
    assert!(out.contains("plugin sip"), "{out}");
}

#[test]
fn check_names_every_problem_and_never_shows_secrets() {
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "scripts/broken.lua",
        "tandem.on('x', function()\n  local = 1\nend)\n",
    );
    write(dir.path(), "secret.txt", "s3cr3t-value\n");
    let cfg = config(
        dir.path(),
        plugins.path(),
        "[plugins.example]\nprefx = \"typo\"\ntoken_file = \"secret.txt\"\n[plugins.exmple]\nx = 1\n[scripts.nothere]\nenabled = true\n",
    );
    let (ok, out, _) = tandem(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("[plugins.example]") && out.contains("prefx"),
        "{out}"
    );
    assert!(out.contains("[plugins.exmple]"), "{out}");
    assert!(out.contains("broken.lua:2"), "{out}");
    assert!(out.contains("[scripts.nothere]"), "{out}");
    assert!(!out.contains("s3cr3t"), "a secret was printed:\n{out}");

    // A secret read into a key of the wrong type: the plugin's error names
    // the key and the kind of value, not the value.
    let cfg = config(
        dir.path(),
        plugins.path(),
        "[plugins.example]\ntick_seconds_file = \"secret.txt\"\n",
    );
    let (ok, out, _) = tandem(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("tick_seconds"), "{out}");
    assert!(!out.contains("s3cr3t"), "a secret was printed:\n{out}");
}

#[test]
fn check_reports_config_errors_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("[lua]\nmemory_limit_mb = \"big\"\n", "lua.memory_limit_mb"),
        ("[hots]\n", "hots"),
        (
            "[plugins.sip]\npassword_file = \"missing.pass\"\n",
            "missing.pass",
        ),
        ("[log]\nlevel = \"verbose==\"\n", "log.level"),
        ("[host]\nscript_dirs = [\"scirpts\"]\n", "host.script_dirs"),
        ("[host]\nplugin_dirs = [\"no-such\"]\n", "host.plugin_dirs"),
    ] {
        let cfg = write(dir.path(), "bad.toml", text);
        let (ok, out, _) = tandem(&["check", "--config", cfg.to_str().unwrap()]);
        assert!(!ok, "{text}: {out}");
        assert!(
            out.contains("bad.toml") && out.contains(needle),
            "{text}: {out}"
        );
    }
}

#[test]
fn run_starts_logs_with_plugin_targets_and_stops_on_sigterm() {
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "scripts/ping.lua",
        "tandem.on('host.ready', function() tandem.emit('example.ping', {text = 'hello'}) end)\ntandem.on('example.pong', function(ev) tandem.log.info('pong: ' .. ev.text) end)\n",
    );
    let cfg = config(dir.path(), plugins.path(), "");
    let run = Running::start(&cfg, &[]);
    run.wait_for("ready");
    let log = run.wait_for("pong: echo: hello");
    assert!(
        log.contains(" example: started"),
        "plugin log line without its id as target:\n{log}"
    );
    let (ok, log) = run.stop();
    assert!(ok, "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("example: stopping"), "{log}");
}

#[test]
fn run_logs_json_on_request() {
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), plugins.path(), "");
    let run = Running::start(&cfg, &["--log-format", "json"]);
    let log = run.wait_for("\"ready\"");
    let line = log.lines().find(|l| l.contains("started (prefix")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["target"], "example");
    let (ok, _) = run.stop();
    assert!(ok);
}

#[test]
fn run_survives_a_panicking_plugin_and_a_runaway_rule() {
    let plugins = plugin_folder(&["tandem_plugin_example", "tandem_fixture_testkit"]);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "scripts/a-loop.lua",
        "tandem.on('host.ready', function()\n  while true do end\nend)\n",
    );
    write(
        dir.path(),
        "scripts/b-panic.lua",
        "tandem.on('host.ready', function() tandem.emit('testkit.panic', {}) end)\n",
    );
    write(
        dir.path(),
        "scripts/c-alive.lua",
        "tandem.on('host.ready', function()\n  tandem.after(0.2, function() tandem.log.info('alive: ' .. tandem.call('example.echo', {text = 'x'}).text) end)\nend)\n",
    );
    let cfg = config(
        dir.path(),
        plugins.path(),
        "[lua]\ninstruction_budget = 100000\n",
    );
    let run = Running::start(&cfg, &[]);
    let log = run.wait_for("alive: echo: x");
    assert!(
        log.contains("a-loop.lua:2") && log.contains("instruction budget"),
        "{log}"
    );
    let log = run.wait_for("plugin failed");
    assert!(
        log.contains("testkit") && log.contains("asked to panic"),
        "{log}"
    );
    let (ok, log) = run.stop();
    assert!(ok, "{log}");
}

#[test]
fn run_reloads_a_changed_script_without_duplicating_handlers() {
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "scripts/tick.lua",
        "tandem.on('example.tick', function(ev) tandem.log.info('v1 tick ' .. ev.n) end)\n",
    );
    let cfg = config(
        dir.path(),
        plugins.path(),
        "[plugins.example]\ntick_seconds = 1\n",
    );
    let run = Running::start(&cfg, &[]);
    run.wait_for("v1 tick 1");
    std::fs::write(
        &script,
        "tandem.on('example.tick', function(ev) tandem.log.info('v2 tick ' .. ev.n) end)\n",
    )
    .unwrap();
    run.wait_for("script reloaded");
    let mark = run.log.lock().unwrap().len();
    let log = run.wait_for("v2 tick");
    // Two more ticks after the reload: only v2 handles them, once each.
    let deadline = Instant::now() + T;
    let after = loop {
        let after = run.log.lock().unwrap()[mark..].to_owned();
        if after.matches("v2 tick").count() >= 2 || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!after.contains("v1 tick"), "{log}");
    let mut ticks: Vec<&str> = after.lines().filter(|l| l.contains("v2 tick")).collect();
    let n = ticks.len();
    ticks.dedup();
    assert_eq!(ticks.len(), n, "a tick was handled twice: {after}");
    let (ok, _) = run.stop();
    assert!(ok);
}

fn ctl(cfg: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(tandem_bin())
        .arg("ctl")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (`T` at most) until `tandem ctl status` gets an answer from the
/// daemon started with `cfg`: its control socket is up and serving.
fn wait_ctl(cfg: &Path) {
    let deadline = Instant::now() + T;
    loop {
        let (code, out, err) = ctl(cfg, &["--json", "status"]);
        if code == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ctl never answered ({code:?}):\n{out}{err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctl_reports_status_switches_rules_and_names_errors() {
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "scripts/greeter.lua",
        "tandem.provide('greeter.hello', function(a) return { text = 'hello ' .. a.who } end)\n",
    );
    let cfg = config(dir.path(), plugins.path(), "");
    let run = Running::start(&cfg, &[]);
    wait_ctl(&cfg);

    let socket = dir.path().join("control.sock");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is the owner's alone");

    let (code, out, err) = ctl(&cfg, &["status"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("example") && out.contains("running"), "{out}");
    assert!(out.contains("greeter") && out.contains(" on"), "{out}");

    // Without --config, ./tandem.toml names the socket, as for `run`.
    let out = Command::new(tandem_bin())
        .args(["ctl", "status"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, out, _) = ctl(&cfg, &["--json", "status"]);
    assert_eq!(code, Some(0));
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["plugins"][0]["id"], "example", "{status}");

    let (code, out, _) = ctl(&cfg, &["send", "greeter.hello", r#"{"who":"ann"}"#]);
    assert_eq!((code, out.trim()), (Some(0), r#"{"text":"hello ann"}"#));

    let (code, out, err) = ctl(&cfg, &["rules", "off", "--rule", "greeter"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = ctl(&cfg, &["send", "greeter.hello", r#"{"who":"ann"}"#]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("switched_off") && err.contains("switched off"),
        "{err}"
    );

    // No SIP plugin here: a clear error, not a hang.
    let (code, _, err) = ctl(&cfg, &["call", "sip:bob@127.0.0.1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("sip.call") && err.contains("unknown_command"),
        "{err}"
    );
    let (code, _, err) = ctl(&cfg, &["send", "x", "{not json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not JSON"), "{err}");

    // Garbage and oversize lines get an error answer; the daemon carries on.
    {
        use std::io::Write;
        let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        let mut reader = BufReader::new(&stream);
        let mut answer = String::new();
        (&stream).write_all(b"{\"cmd\": 1}\n").unwrap();
        reader.read_line(&mut answer).unwrap();
        assert!(answer.contains("not a request"), "{answer}");
        answer.clear();
        (&stream).write_all(&vec![b'x'; 70 * 1024]).unwrap();
        (&stream).write_all(b"\n").unwrap();
        reader.read_line(&mut answer).unwrap();
        assert!(answer.contains("longer than 64 KiB"), "{answer}");
    }
    let (code, _, err) = ctl(&cfg, &["presence"]);
    assert_eq!(code, Some(1), "still answering: {err}");

    // A second daemon on the same socket refuses to start.
    let mut second = Command::new(tandem_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = second.wait().unwrap();
    let mut second_log = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut second_log).unwrap();
    assert!(!status.success());
    assert!(second_log.contains("already running"), "{second_log}");

    let (ok, log) = run.stop();
    assert!(ok, "{log}");
    assert!(!socket.exists(), "the socket is removed on shutdown");
    let (code, _, err) = ctl(&cfg, &["status"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn ctl_refuses_a_shared_folder_and_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let cfg = config(dir.path(), plugins.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("control.sock", "shared/control.sock");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(tandem_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(log.contains("not private"), "{log}");

    // Another user cannot reach the socket (only checkable as root).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return;
    }
    let cfg = config(dir.path(), plugins.path(), "");
    let run = Running::start(&cfg, &[]);
    wait_ctl(&cfg);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(tandem_bin())
        .args(["ctl", "--socket"])
        .arg(dir.path().join("control.sock"))
        .arg("status")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    let (ok, _) = run.stop();
    assert!(ok);
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// `tools/install` lays Tandem out as a daemon of its kind (binary in
/// bin, the four real plugins and nothing else in lib/tandem/plugins, the
/// shipped rules, an example config, a systemd user unit); the installed
/// binary finds its plugins without being told, `tandem init` writes a
/// config it checks once the user's password files are filled in.
#[test]
fn tools_install_lays_out_a_daemon_that_finds_its_plugins_and_rules() {
    let target = build_artifacts();
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new(workspace().join("tools/install"))
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/usr")
        .env("TARGET", target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let root = dest.path().join("usr");
    for file in [
        "bin/tandem",
        "share/tandem/scripts/on-the-phone.lua",
        "share/tandem/scripts/status-commands.lua",
        "share/tandem/tandem.toml.example",
        "lib/systemd/user/tandem.service",
    ] {
        assert!(root.join(file).is_file(), "no {file}");
    }
    let mut plugins: Vec<String> = std::fs::read_dir(root.join("lib/tandem/plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    plugins.sort();
    assert_eq!(
        plugins,
        [
            "libtandem_plugin_composing.so",
            "libtandem_plugin_file_transfer.so",
            "libtandem_plugin_sip.so",
            "libtandem_plugin_xmpp.so"
        ],
        "only the real plugins: no template, no test fixture"
    );

    // The installed binary, with no config and no plugin folder named,
    // finds the installed plugins.
    let home = tempfile::tempdir().unwrap();
    let installed = root.join("bin/tandem");
    let out = Command::new(&installed)
        .args(["plugins", "--json"])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<&str> = found["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["manifest"]["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["composing", "file-transfer", "sip", "xmpp"],
        "{found}"
    );

    // `tandem init` with flags (no terminal): the config at the XDG path,
    // naming the installed rules, the password files 0600 beside it for
    // the user to fill; checked by the installed binary once they are.
    let xdg = home.path().join("xdg");
    let init = |force: bool| {
        let mut cmd = Command::new(&installed);
        cmd.args(["init", "--jid", "alice@example.org", "--sip-user", "alice"])
            .args(["--registrar", "sip:sip.example.org"])
            .env("XDG_CONFIG_HOME", &xdg)
            .stdin(Stdio::null());
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    let out = init(false);
    assert!(out.status.success(), "{out:?}");
    let cfg = xdg.join("tandem/tandem.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("jid = \"alice@example.org\""), "{text}");
    assert!(
        text.contains(&format!(
            "{:?}",
            root.join("share/tandem/scripts").display().to_string()
        )),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    for name in ["tandem.toml", "xmpp-password", "sip-password"] {
        let mode = std::fs::metadata(xdg.join("tandem").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    let again = init(false);
    assert!(!again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--force"),
        "{again:?}"
    );
    assert!(init(true).status.success());
    write(&xdg.join("tandem"), "xmpp-password", "xmpp-secret");
    write(&xdg.join("tandem"), "sip-password", "sip-secret");
    let out = Command::new(&installed)
        .args(["check", "--config"])
        .arg(&cfg)
        .env("HOME", home.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("plugin sip") && said.contains("plugin xmpp"),
        "{said}"
    );
    assert!(
        said.contains("on-the-phone"),
        "the shipped rules load: {said}"
    );
    assert!(!said.contains("secret"), "{said}");
    let example = std::fs::read_to_string(root.join("share/tandem/tandem.toml.example")).unwrap();
    assert!(
        example.contains("\"/usr/share/tandem/scripts\""),
        "{example}"
    );

    // The unit names the installed binary; systemd reads it without a
    // complaint (system mode: a user manager is not running here).
    let unit = std::fs::read_to_string(root.join("lib/systemd/user/tandem.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/tandem run --config %E/tandem/tandem.toml"),
        "{unit}"
    );
    let checked = write(
        home.path(),
        "tandem.service",
        &unit.replace("/usr/bin/tandem", &installed.display().to_string()),
    );
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&checked)
        .output()
        .expect("systemd-analyze (systemd)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// `tandem init` on a terminal, as a new user meets it (Tandem in tmux:
/// keys typed, the screen read): it asks for the addresses and the two
/// passwords, shows what is typed except the passwords, writes them into
/// files only the user can read, and says what to do next.
#[test]
fn init_on_a_terminal_asks_and_never_shows_a_password() {
    use std::os::unix::fs::PermissionsExt;
    use tandem_tests::terminal::Terminal;

    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("conf/tandem.toml");
    // The shell keeps the window open once init is done, to read it.
    let script = "\"$0\" init --config \"$1\"; echo init-ended; sleep 600";
    let terminal = Terminal::start(
        home,
        Path::new("/bin/sh"),
        &[
            "-c",
            script,
            &tandem_bin().display().to_string(),
            &config.display().to_string(),
        ],
    );
    for (question, answer) in [
        ("Your XMPP address", "alice@example.org"),
        ("Your SIP user name:", "alice"),
        ("Your SIP provider's registrar", "sip:sip.example.org"),
        ("Your XMPP password (not shown", "xmpp-secret-4711"),
        ("Your SIP password (not shown", "sip-secret-0815"),
    ] {
        terminal.wait_for_text(question);
        terminal.command(answer);
    }
    let screen = terminal.wait_for_text("init-ended");
    assert!(
        screen.contains("alice@example.org") && screen.contains("sip:sip.example.org"),
        "what is typed shows: {screen}"
    );
    assert!(
        !screen.contains("secret-4711") && !screen.contains("secret-0815"),
        "passwords never show: {screen}"
    );
    assert!(
        screen.contains("wrote ") && screen.contains("tandem check --connect"),
        "{screen}"
    );
    let folder = config.parent().unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("jid = \"alice@example.org\""), "{text}");
    assert!(
        !text.contains("secret-"),
        "no password in the config: {text}"
    );
    for (name, secret) in [
        ("xmpp-password", "xmpp-secret-4711"),
        ("sip-password", "sip-secret-0815"),
    ] {
        let file = folder.join(name);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), secret, "{name}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}
