//! Real cdylib plugins, loaded by the real host library.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tandem::bus::{self, Bus, EventSink};
use tandem::daemon::Daemon;
use tandem::plugins::{discover, load, LoadError};
use tandem_sdk::abi::SharedEvent;
use tandem_sdk::{ErrorKind, Payload};
use tandem_tests::*;

const T: Duration = Duration::from_secs(5);

/// Collects events of some topics from the bus.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, Value)>>>);

impl EventSink for Collector {
    fn deliver(&self, event: SharedEvent) -> bool {
        let payload = serde_json::from_str(event.payload()).unwrap();
        self.0
            .lock()
            .unwrap()
            .push((event.topic().to_string(), payload));
        true
    }
}

impl Collector {
    fn on(bus: &Bus, patterns: &[&str]) -> Collector {
        let c = Collector::default();
        bus.subscribe(
            "test",
            patterns.iter().map(|p| p.to_string()).collect(),
            Arc::new(AtomicBool::new(false)),
            Box::new(c.clone()),
        );
        c
    }

    fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + T;
        loop {
            let seen = self.0.lock().unwrap().clone();
            if seen.len() >= n || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn start(crates: &[&str]) -> (Daemon, tempfile::TempDir, tempfile::TempDir) {
    let plugins = plugin_folder(crates);
    let scripts = tempfile::tempdir().unwrap();
    let (daemon, report) = Daemon::start(&config_for(plugins.path(), scripts.path())).unwrap();
    assert!(
        report.plugin_failures.is_empty(),
        "{:?}",
        report.plugin_failures
    );
    (daemon, plugins, scripts)
}

fn call(bus: &Bus, name: &str, args: Value) -> Result<Value, tandem_sdk::CommandError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bus::call(bus, name, Payload::from(args), T))
        .map(|p| p.decode::<Value>().unwrap())
}

#[test]
fn example_round_trip_event_in_command_out_reply_back() {
    let (daemon, _p, _s) = start(&["tandem_plugin_example"]);
    let pongs = Collector::on(&daemon.bus, &["example.pong"]);
    daemon
        .bus
        .publish("test", "example.ping", json!({"text": "hi"}).to_string());
    let seen = pongs.wait_for(1);
    assert_eq!(seen.len(), 1, "no pong");
    assert_eq!(seen[0].1["text"], "echo: hi");
    daemon.shutdown();
}

#[test]
fn a_plugin_calls_another_plugins_command_through_the_host() {
    let (daemon, _p, _s) = start(&["tandem_plugin_example", "tandem_fixture_testkit"]);
    let answer = call(
        &daemon.bus,
        "testkit.call",
        json!({"name": "example.echo", "args": {"text": "x"}}),
    )
    .unwrap();
    assert_eq!(answer, json!({"text": "echo: x"}));
    let err = call(&daemon.bus, "testkit.call", json!({"name": "nobody.home"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownCommand);
    daemon.shutdown();
}

#[test]
fn events_from_one_plugin_reach_another_in_order() {
    let (daemon, _p, _s) = start(&["tandem_fixture_testkit", "tandem_fixture_counter"]);
    let answer = call(
        &daemon.bus,
        "testkit.burst",
        json!({"topic": "count.tick", "count": 1000}),
    )
    .unwrap();
    assert_eq!(answer["published"], 1000);
    let counted = call(&daemon.bus, "counter.wait", json!({"count": 1000})).unwrap();
    assert_eq!(counted["count"], 1000);
    daemon.shutdown();
}

#[test]
fn a_panicking_plugin_is_cut_off_and_the_rest_carries_on() {
    let (daemon, _p, _s) = start(&["tandem_plugin_example", "tandem_fixture_testkit"]);
    // A panic inside a command: the caller gets a typed error.
    let err = call(&daemon.bus, "testkit.panic", json!({})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::PluginFailed);
    assert!(err.message.contains("asked to panic"), "{err}");
    let testkit = daemon.plugins().iter().find(|p| p.id == "testkit").unwrap();
    assert!(testkit.has_failed());
    // Commands to a failed plugin are refused by the host.
    let err = call(
        &daemon.bus,
        "testkit.burst",
        json!({"topic": "x", "count": 1}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::PluginFailed);
    // The other plugin still works.
    let answer = call(&daemon.bus, "example.echo", json!({"text": "still here"})).unwrap();
    assert_eq!(answer["text"], "echo: still here");
    daemon.shutdown();
}

#[test]
fn a_panic_in_an_event_handler_marks_the_plugin_failed() {
    let (daemon, _p, _s) = start(&["tandem_plugin_example", "tandem_fixture_testkit"]);
    daemon.bus.publish("test", "testkit.panic", "{}".into());
    let deadline = Instant::now() + T;
    let failed = loop {
        let failed = daemon
            .plugins()
            .iter()
            .find(|p| p.id == "testkit")
            .unwrap()
            .has_failed();
        if failed || Instant::now() > deadline {
            break failed;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(failed, "testkit was not marked failed");
    assert_eq!(
        call(&daemon.bus, "example.echo", json!({"text": "ok"})).unwrap()["text"],
        "echo: ok"
    );
    let stats = daemon.bus.stats();
    assert!(
        stats.iter().any(|s| s.name == "testkit" && s.failed),
        "{stats:?}"
    );
    daemon.shutdown();
}

#[test]
fn broken_files_are_refused_with_a_reason_and_the_others_load() {
    let dir = plugin_folder(&["tandem_plugin_example", "tandem_fixture_not_a_plugin"]);
    let fake = write(
        dir.path(),
        &format!("libtext{}", std::env::consts::DLL_SUFFIX),
        "just text\n",
    );
    let found = discover(&[dir.path().to_owned()]);
    assert_eq!(found.loaded.len(), 1);
    assert_eq!(found.loaded[0].manifest.id, "example");
    assert_eq!(found.failed.len(), 2);
    for failure in &found.failed {
        let text = failure.error.to_string();
        if failure.path == fake {
            assert!(matches!(failure.error, LoadError::Open { .. }), "{text}");
            assert!(text.contains("libtext"), "{text}");
        } else {
            assert!(
                matches!(failure.error, LoadError::NotAPlugin { .. }),
                "{text}"
            );
            assert!(text.contains("not a Tandem plugin"), "{text}");
            assert!(text.contains("tandem_fixture_not_a_plugin"), "{text}");
        }
    }
}

#[test]
fn a_plugin_built_for_another_sdk_is_refused_naming_both_versions() {
    let path = plugin_for_other_sdk();
    let err = load(&path).err().expect("the plugin was accepted");
    let text = err.to_string();
    assert!(matches!(err, LoadError::IncompatibleSdk { .. }), "{text}");
    assert!(text.contains(&other_sdk_version()), "{text}");
    assert!(text.contains(tandem_sdk::SDK_VERSION), "{text}");
    assert!(text.contains("tandem_fixture_other_sdk"), "{text}");

    // In a folder with a good plugin, the good one still loads.
    let dir = plugin_folder(&["tandem_plugin_example"]);
    std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    let found = discover(&[dir.path().to_owned()]);
    assert_eq!(found.loaded.len(), 1);
    assert_eq!(found.failed.len(), 1);
}

#[test]
fn the_same_plugin_twice_is_loaded_once() {
    let dir = plugin_folder(&["tandem_plugin_example"]);
    let src = library("tandem_plugin_example");
    std::fs::copy(
        &src,
        dir.path()
            .join(format!("libcopy{}", std::env::consts::DLL_SUFFIX)),
    )
    .unwrap();
    let found = discover(&[dir.path().to_owned()]);
    assert_eq!(found.loaded.len(), 1);
    assert!(matches!(
        found.failed[0].error,
        LoadError::DuplicateId { .. }
    ));
}

#[test]
fn a_bad_config_section_stops_only_that_plugin() {
    let plugins = plugin_folder(&["tandem_plugin_example", "tandem_fixture_counter"]);
    let scripts = tempfile::tempdir().unwrap();
    let mut config = config_for(plugins.path(), scripts.path());
    let mut section = serde_json::Map::new();
    section.insert("prefx".into(), json!("typo"));
    config.plugins.insert("example".into(), section);
    let (daemon, report) = Daemon::start(&config).unwrap();
    assert_eq!(report.plugins.len(), 1, "{report:?}");
    assert_eq!(report.plugin_failures.len(), 1);
    assert!(
        report.plugin_failures[0].contains("prefx"),
        "{:?}",
        report.plugin_failures
    );
    daemon.shutdown();
}

#[test]
fn plugins_call_commands_that_rules_provide_and_the_hosts_own() {
    let plugins = plugin_folder(&["tandem_fixture_testkit"]);
    let scripts = tempfile::tempdir().unwrap();
    write(
        scripts.path(),
        "greeter.lua",
        r#"tandem.provide("greeter.hello", function(args) return { text = "hello " .. args.who } end)"#,
    );
    let (daemon, report) = Daemon::start(&config_for(plugins.path(), scripts.path())).unwrap();
    assert!(
        report.script_failures.is_empty(),
        "{:?}",
        report.script_failures
    );
    let via_plugin = |name: &str, args: Value| {
        call(
            &daemon.bus,
            "testkit.call",
            json!({"name": name, "args": args}),
        )
    };

    assert_eq!(
        via_plugin("greeter.hello", json!({"who": "ann"})).unwrap(),
        json!({"text": "hello ann"})
    );

    let status = via_plugin("host.status", json!({})).unwrap();
    assert_eq!(status["plugins"][0]["id"], "testkit", "{status}");
    assert_eq!(status["plugins"][0]["failed"], false);
    assert_eq!(status["rules"][0]["name"], "greeter", "{status}");
    assert_eq!(status["rules"][0]["enabled"], true);
    let commands = status["commands"].as_array().unwrap();
    assert!(
        commands.contains(&json!({"name": "greeter.hello", "provider": "lua:greeter"})),
        "{status}"
    );
    assert!(status["subscribers"].as_array().is_some(), "{status}");

    let switched = via_plugin(
        "host.set_rule",
        json!({"name": "greeter", "enabled": false}),
    );
    assert_eq!(
        switched.unwrap(),
        json!({"name": "greeter", "enabled": false})
    );
    let off = via_plugin("greeter.hello", json!({"who": "ann"})).unwrap_err();
    assert_eq!(off.kind, ErrorKind::SwitchedOff, "{off}");
    let status = call(&daemon.bus, "host.status", json!({})).unwrap();
    assert_eq!(status["rules"][0]["enabled"], false);

    let unknown = via_plugin("host.set_rule", json!({"name": "nope", "enabled": true}));
    assert_eq!(unknown.unwrap_err().kind, ErrorKind::InvalidArguments);
    let malformed = via_plugin("host.set_rule", json!({"name": "greeter", "on": 1}));
    let malformed = malformed.unwrap_err();
    assert_eq!(malformed.kind, ErrorKind::InvalidArguments, "{malformed}");
    daemon.shutdown();
}
