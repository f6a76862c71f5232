//! Test support: builds the real artifacts the integration tests load.
//!
//! cargo does not build `cdylib`s or other packages' binaries before an
//! integration test, so the tests ask for them here: one `cargo build` per
//! test process (cached by cargo between runs), then paths into `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Runs `cmd` to the end; fails the test with its output unless it exits 0.
pub fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Collects a child's stdout and stderr, line by line, into one shared
/// log that tests can read while the child runs.
pub fn capture_output(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let streams = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    log
}

/// Reads a child's stdout, one JSON object a line (lines that are not JSON
/// are skipped), into a list that tests can read while the child runs.
pub fn json_lines(
    stdout: std::process::ChildStdout,
) -> std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> {
    use std::io::BufRead;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str(&line) {
                sink.lock().unwrap().push(v);
            }
        }
    });
    seen
}

/// Sends `signal` (`"-TERM"`, `"-INT"`) and waits up to 5 s for the child
/// to end, so it can shut down cleanly (unregister, finish a WAV header);
/// then kills it.
pub fn stop_gently(child: &mut std::process::Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls a peer's log every 20 ms, 20 s at most: `look` answers `Ok(log)`
/// once it holds what is awaited, `Err(log)` until then (and may panic
/// sooner, say when the peer has exited). Past the deadline the test fails
/// with "no {what}" and the log.
pub fn wait_for_log(what: &str, mut look: impl FnMut() -> Result<String, String>) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match look() {
            Ok(log) => return log,
            Err(log) => assert!(std::time::Instant::now() < deadline, "no {what}:\n{log}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The target folder of this build profile (`target/debug`).
pub fn target_dir() -> PathBuf {
    // The test binary lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// Packages the tests need built.
const PACKAGES: &[&str] = &[
    "tandem",
    "tandem-plugin-example",
    "tandem-plugin-xmpp",
    "tandem-plugin-sip",
    "tandem-plugin-composing",
    "tandem-plugin-file-transfer",
    "tandem-fixture-testkit",
    "tandem-fixture-counter",
    "tandem-fixture-not-a-plugin",
];

/// Builds the host binary, the shipped plugins and the fixtures (once).
pub fn build_artifacts() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = target_dir();
        let profile = target.file_name().unwrap().to_string_lossy().into_owned();
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
        cmd.current_dir(workspace()).arg("build").arg("--quiet");
        if profile == "release" {
            cmd.arg("--release");
        }
        for p in PACKAGES {
            cmd.args(["-p", p]);
        }
        cmd.env("CARGO_TARGET_DIR", target.parent().unwrap());
        let status = cmd.status().expect("cannot run cargo");
        assert!(status.success(), "building the test artifacts failed");
        for p in PACKAGES.iter().filter(|p| p.starts_with("tandem-fixture-")) {
            set_fixture_aside(&target, &p.replace('-', "_"));
        }
        target
    })
}

/// Where the fixture plugins are kept, apart from `target/<profile>/`: that
/// folder is also where `target/<profile>/tandem` looks for plugins ("next
/// to the binary"), so a fixture left there would be loaded by a developer's
/// `target/release/tandem` after `cargo bench`.
fn fixtures_dir(target: &Path) -> PathBuf {
    target.join("test-fixtures")
}

fn library_file_name(crate_name: &str) -> String {
    format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Moves a freshly built fixture from `target/<profile>/` into
/// [`fixtures_dir`]. cargo puts it back (a hard link, no rebuild) on the
/// next build; another test process may have moved it already.
fn set_fixture_aside(target: &Path, crate_name: &str) {
    let name = library_file_name(crate_name);
    let aside = fixtures_dir(target);
    std::fs::create_dir_all(&aside).unwrap();
    if let Err(e) = std::fs::rename(target.join(&name), aside.join(&name)) {
        assert!(aside.join(&name).exists(), "cannot set {name} aside: {e}");
    }
}

/// Path of a built plugin library, by crate name (`tandem_plugin_example`).
pub fn library(crate_name: &str) -> PathBuf {
    let dir = build_artifacts();
    if crate_name.starts_with("tandem_fixture_") {
        fixtures_dir(dir).join(library_file_name(crate_name))
    } else {
        dir.join(library_file_name(crate_name))
    }
}

/// The `tandem` binary.
pub fn tandem_bin() -> PathBuf {
    build_artifacts().join("tandem")
}

/// A fresh folder holding copies of the given libraries: a plugin folder
/// with exactly these plugins in it.
pub fn plugin_folder(crates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in crates {
        let src = library(name);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The SDK version a plugin gets when built by [`plugin_for_other_sdk`]:
/// the next minor version, which this host must refuse.
pub fn other_sdk_version() -> String {
    let mut parts = tandem_sdk::SDK_VERSION.split('.');
    let major: u64 = parts.next().unwrap().parse().unwrap();
    let minor: u64 = parts.next().unwrap().parse().unwrap();
    format!("{major}.{}.0", minor + 1)
}

/// Builds the example plugin against a copy of the SDK whose version is
/// [`other_sdk_version`]: a real plugin from a real, incompatible SDK.
/// Shares the target folder, so unchanged dependencies are not rebuilt.
pub fn plugin_for_other_sdk() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = build_artifacts().to_owned();
            let root = workspace();
            let work = target.parent().unwrap().join("fixture-other-sdk");
            let _ = std::fs::remove_dir_all(&work);
            copy_dir(&root.join("sdk"), &work.join("sdk"));
            copy_dir(&root.join("plugins/example"), &work.join("plugin"));
            let version = other_sdk_version();

            let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
            let members_start = manifest.find("members = [").unwrap();
            let members_end = members_start + manifest[members_start..].find(']').unwrap() + 1;
            let mut manifest = format!(
                "{}members = [\"sdk\", \"plugin\"]{}",
                &manifest[..members_start],
                &manifest[members_end..]
            );
            // Neither the SDK nor the example uses the patched crates
            // (`[patch.crates-io]`, whose paths the copy does not hold).
            let mut in_patch = false;
            manifest = manifest
                .lines()
                .filter(|l| {
                    if l.starts_with('[') {
                        in_patch = l.starts_with("[patch.");
                    }
                    !in_patch && !l.starts_with("default-members")
                })
                .collect::<Vec<_>>()
                .join("\n");
            manifest = manifest.replace(
                &format!(
                    "tandem-sdk = {{ path = \"sdk\", version = \"{}\" }}",
                    tandem_sdk::SDK_VERSION
                ),
                &format!("tandem-sdk = {{ path = \"sdk\", version = \"{version}\" }}"),
            );
            std::fs::write(work.join("Cargo.toml"), manifest).unwrap();
            let sdk_manifest = std::fs::read_to_string(work.join("sdk/Cargo.toml"))
                .unwrap()
                .lines()
                .map(|l| {
                    if l == "version.workspace = true" {
                        format!("version = \"{version}\"")
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(work.join("sdk/Cargo.toml"), sdk_manifest).unwrap();
            let plugin_manifest = std::fs::read_to_string(work.join("plugin/Cargo.toml"))
                .unwrap()
                .replace(
                    "name = \"tandem-plugin-example\"",
                    "name = \"tandem-fixture-other-sdk\"",
                );
            std::fs::write(work.join("plugin/Cargo.toml"), plugin_manifest).unwrap();
            if let Ok(lock) = std::fs::read(root.join("Cargo.lock")) {
                std::fs::write(work.join("Cargo.lock"), lock).unwrap();
            }

            let profile = target.file_name().unwrap().to_string_lossy().into_owned();
            let mut cmd =
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
            cmd.current_dir(&work)
                .args(["build", "--quiet", "-p", "tandem-fixture-other-sdk"])
                .env("CARGO_TARGET_DIR", target.parent().unwrap());
            if profile == "release" {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cannot run cargo");
            assert!(status.success(), "building the other-SDK plugin failed");
            set_fixture_aside(&target, "tandem_fixture_other_sdk");
            fixtures_dir(&target).join(library_file_name("tandem_fixture_other_sdk"))
        })
        .clone()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A host config with exactly `plugin_dir` and `script_dir` (no defaults).
pub fn config_for(plugin_dir: &Path, script_dir: &Path) -> tandem::config::Config {
    let mut config = tandem::config::Config::defaults();
    config.host.plugin_dirs = vec![plugin_dir.to_owned()];
    config.host.default_plugin_dirs = false;
    config.host.script_dirs = vec![script_dir.to_owned()];
    config
}

pub mod baresip;
pub mod certs;
pub mod ejabberd;
pub mod http;
pub mod kamailio;
pub mod kamailio_msrp;
pub mod linphone;
pub mod measure;
pub mod netns;
pub mod pjsua2;
pub mod profanity;
pub mod prosody;
pub mod relay;
pub mod rfc4475;
pub mod sidecar;
pub mod sipp;
pub mod sound;
pub mod status;
pub mod stun;
pub mod terminal;
pub mod xmpp_client;
pub mod xmpp_server;

/// Tandem in this process, from the config file at `config` (the benches
/// time from a bus call, with no process boundary in between); every
/// plugin must have started.
pub fn in_process_daemon(config: &Path) -> tandem::daemon::Daemon {
    let config = tandem::config::Config::load(config).unwrap();
    let (daemon, report) = tandem::daemon::Daemon::start(&config).unwrap();
    assert!(
        report.plugin_failures.is_empty(),
        "{:?}",
        report.plugin_failures
    );
    daemon
}
