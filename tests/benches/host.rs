//! Host hot paths, measured through real cdylib plugins.
//!
//! `cargo bench -p tandem-tests --bench host`; figures in docs/benchmarks.md.
//! - bus/plugin_to_plugin: testkit publishes, counter receives (FFI both ways);
//! - bus/plugin_to_lua: testkit publishes, a Lua handler receives;
//! - lua/bare_mlua_call: the same table built and handed to a Lua function
//!   in a plain loop, no host at all (the reference for the ratio);
//! - lua/patterns: a rule's typical string matching, the sandbox's metered
//!   Rust functions (`/sandbox`, run as a rule's handler) against Lua's own
//!   C functions (`/stock`, a plain Lua state with the same count hook),
//!   1000 calls per iteration;
//! - load/plugin: opening and checking one plugin library;
//! - startup/ready: `tandem run` from spawn to its "ready" line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use tandem::bus::{self, Bus};
use tandem::daemon::Daemon;
use tandem_sdk::Payload;
use tandem_tests::*;

/// The event every bus benchmark sends: the shape of `sip.call.answered`.
fn payload() -> Value {
    json!({"call": "c-1f3a", "peer": "sip:bob@example.org", "direction": "incoming"})
}

/// Events the Lua engine can queue is 16 Ki: bursts stay below it.
const TO_LUA: u64 = 10_000;

struct BatchSink(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

impl tandem::bus::EventSink for BatchSink {
    fn deliver(&self, _event: tandem_sdk::abi::SharedEvent) -> bool {
        self.0.lock().unwrap().send(()).is_ok()
    }
}

fn call(rt: &tokio::runtime::Runtime, bus: &Bus, name: &str, args: Value) -> Value {
    rt.block_on(bus::call(
        bus,
        name,
        Payload::from(args),
        Duration::from_secs(60),
    ))
    .unwrap()
    .decode()
    .unwrap()
}

/// A backend for the engine alone: handlers here never call or emit.
struct NoBackend;

impl tandem::lua::Backend for NoBackend {
    fn call(
        &self,
        name: &str,
        _args: Value,
    ) -> futures_util::future::LocalBoxFuture<'static, Result<Value, tandem_sdk::CommandError>>
    {
        let name = name.to_owned();
        Box::pin(async move { Err(tandem_sdk::CommandError::unknown_command(&name)) })
    }
    fn emit(&self, _source: &str, _topic: &str, _payload: Value) {}
    fn log(&self, _script: &str, _level: tandem::lua::LogLevel, _message: &str) {}
    fn script_error(&self, script: &str, message: &str) {
        panic!("{script}: {message}");
    }
}

/// An engine without plugins (commands fail), with room to run the bench
/// loops, and the rule at `path` loaded.
fn engine_with(path: &std::path::Path) -> tandem::lua::Engine {
    let engine = tandem::lua::Engine::new(
        std::rc::Rc::new(NoBackend),
        // The defaults, as a user runs them.
        tandem::lua::Limits::from(&tandem::config::LuaSection::default()),
    );
    engine.load(path, Default::default(), Some(true)).unwrap();
    engine
}

fn bus_benches(c: &mut Criterion) {
    tandem::logging::init("warn", tandem::config::LogFormat::Text);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plugins = plugin_folder(&["tandem_fixture_testkit", "tandem_fixture_counter"]);
    let scripts = tempfile::tempdir().unwrap();
    // The rule reports every full batch, so the bench can block, not spin.
    write(
        scripts.path(),
        "count.lua",
        &format!(
            "local n = 0\ntandem.on('lua.tick', function(ev)\n  n = n + 1\n  if n % {TO_LUA} == 0 then tandem.emit('lua.batch', {{n = n}}) end\nend)\n"
        ),
    );
    let (daemon, report) = Daemon::start(&config_for(plugins.path(), scripts.path())).unwrap();
    assert!(
        report.plugin_failures.is_empty() && report.script_failures.is_empty(),
        "{report:?}"
    );
    let (batch_tx, batch_rx) = std::sync::mpsc::channel();
    daemon.bus.subscribe(
        "bench",
        vec!["lua.batch".into()],
        Default::default(),
        Box::new(BatchSink(std::sync::Mutex::new(batch_tx))),
    );

    let mut group = c.benchmark_group("bus");
    // Bursts stay below the receivers' queue sizes: nothing is dropped.
    const TO_PLUGIN: u64 = 50_000;
    group.throughput(Throughput::Elements(TO_PLUGIN));
    let mut delivered = 0u64;
    group.bench_function("plugin_to_plugin", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                call(
                    &rt,
                    &daemon.bus,
                    "testkit.burst",
                    json!({"topic": "count.tick", "count": TO_PLUGIN, "payload": payload()}),
                );
                delivered += TO_PLUGIN;
                call(
                    &rt,
                    &daemon.bus,
                    "counter.wait",
                    json!({"count": delivered}),
                );
            }
            started.elapsed()
        })
    });

    group.throughput(Throughput::Elements(TO_LUA));
    group.bench_function("plugin_to_lua", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                call(
                    &rt,
                    &daemon.bus,
                    "testkit.burst",
                    json!({"topic": "lua.tick", "count": TO_LUA, "payload": payload()}),
                );
                batch_rx.recv().unwrap();
            }
            started.elapsed()
        })
    });
    group.finish();
    let dropped: u64 = daemon.bus.stats().iter().map(|s| s.dropped).sum();
    assert_eq!(
        dropped, 0,
        "events were dropped: the figures would be wrong"
    );
    daemon.shutdown();

    // The reference: build the same table and call a Lua function, no host.
    let mut group = c.benchmark_group("lua");
    group.throughput(Throughput::Elements(TO_LUA));
    let lua = mlua::Lua::new();
    let handler: mlua::Function = lua
        .load("local n = 0\nreturn function(ev) n = n + 1 end")
        .eval()
        .unwrap();
    // The engine alone, no bus and no thread hop: where the plugin → Lua
    // time goes between the bus and the Lua handler.
    group.bench_function("engine_dispatch", |b| {
        let scripts = tempfile::tempdir().unwrap();
        let path = write(
            scripts.path(),
            "count.lua",
            "local n = 0\ntandem.on('lua.tick', function(ev) n = n + 1 end)\n",
        );
        let engine = engine_with(&path);
        let payload = payload().to_string();
        b.iter(|| {
            for _ in 0..TO_LUA {
                engine.dispatch("lua.tick", "testkit", &payload);
            }
        })
    });
    group.bench_function("bare_mlua_call", |b| {
        b.iter(|| {
            for _ in 0..TO_LUA {
                let t = lua.create_table().unwrap();
                t.set("call", "c-1f3a").unwrap();
                t.set("peer", "sip:bob@example.org").unwrap();
                t.set("direction", "incoming").unwrap();
                handler.call::<()>(t).unwrap();
            }
        })
    });
    group.finish();
}

/// Typical pattern work of a rule, the same Lua in both states.
const PATTERN_SETUP: &str =
    "local jid, uri = 'alice@example.org/phone', 'sip:bob@example.org;transport=tcp'\n\
    local text, params = 'On  the   phone \\t with  bob', 'transport=tcp;lr=on;ttl=15'";
const PATTERN_CASES: &[(&str, &str)] = &[
    ("match", "local user, host = jid:match('^([^@]+)@([^/]+)')"),
    ("find_plain", "local at = uri:find('sip:', 1, true)"),
    ("gsub", "local squeezed = text:gsub('%s+', ' ')"),
    (
        "gmatch",
        "for key, value in params:gmatch('(%w+)=(%w+)') do end",
    ),
];
const PATTERN_REPS: u64 = 1000;

fn pattern_benches(c: &mut Criterion) {
    let loop_of = |body: &str| format!("function() for _ = 1, {PATTERN_REPS} do {body} end end");
    // Stock: Lua's own string functions, in a state with the sandbox's
    // count hook (every 1000 instructions, here doing nothing): a hook makes
    // Lua trace every instruction, and that cost is the sandbox's, not the
    // pattern functions'.
    let stock = mlua::Lua::new();
    stock
        .set_global_hook(
            mlua::HookTriggers::new().every_nth_instruction(1000),
            |_, _| Ok(mlua::VmState::Continue),
        )
        .unwrap();
    // Ours: each case a handler of one rule, as rules run.
    let scripts = tempfile::tempdir().unwrap();
    let mut rule = format!("{PATTERN_SETUP}\n");
    for (name, body) in PATTERN_CASES {
        rule.push_str(&format!("tandem.on('bench.{name}', {})\n", loop_of(body)));
    }
    let path = write(scripts.path(), "patterns.lua", &rule);
    let engine = engine_with(&path);

    let mut group = c.benchmark_group("lua/patterns");
    group.throughput(Throughput::Elements(PATTERN_REPS));
    for (name, body) in PATTERN_CASES {
        let f: mlua::Function = stock
            .load(format!("{PATTERN_SETUP}\nreturn {}", loop_of(body)))
            .eval()
            .unwrap();
        group.bench_function(format!("{name}/stock"), |b| {
            b.iter(|| f.call::<()>(()).unwrap())
        });
        let topic = format!("bench.{name}");
        group.bench_function(format!("{name}/sandbox"), |b| {
            b.iter(|| engine.dispatch(&topic, "bench", "{}"))
        });
    }
    group.finish();
}

fn load_bench(c: &mut Criterion) {
    let src = library("tandem_plugin_example");
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0u64;
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    group.bench_function("plugin", |b| {
        b.iter_batched(
            || {
                // A fresh file each time: a library already open is not reloaded.
                n += 1;
                let path = dir
                    .path()
                    .join(format!("libcopy{n}{}", std::env::consts::DLL_SUFFIX));
                std::fs::copy(&src, &path).unwrap();
                path
            },
            |path| {
                let library = tandem::plugins::load(&path).unwrap();
                // The mapping stays valid after the file is gone.
                std::fs::remove_file(&path).unwrap();
                library.manifest.id.len()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn startup_bench(c: &mut Criterion) {
    // All shipped plugins (the release folder) and the shipped scripts.
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_folder(&["tandem_plugin_example"]);
    let cfg = write(
        dir.path(),
        "tandem.toml",
        &format!(
            "[host]\nplugin_dirs = [{:?}]\ndefault_plugin_dirs = false\nscript_dirs = [{:?}]\ncontrol_socket = \"control.sock\"\n",
            plugins.path().display().to_string(),
            workspace().join("scripts").display().to_string()
        ),
    );
    let run_once = |measure_rss: bool| -> (Duration, Option<u64>) {
        let started = Instant::now();
        let mut child = Command::new(tandem_bin())
            .args(["run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("tandem exited before ready").unwrap();
            if line.contains(" ready ") || line.contains("ready plugins") {
                break;
            }
        }
        let elapsed = started.elapsed();
        let rss = measure_rss.then(|| {
            std::thread::sleep(Duration::from_secs(2));
            tandem_tests::measure::status_kib(child.id(), "VmRSS").unwrap()
        });
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::spawn(move || lines.for_each(drop));
        child.wait().unwrap();
        (elapsed, rss)
    };
    let (_, rss) = run_once(true);
    eprintln!(
        "idle RSS of `tandem run` with all shipped plugins and scripts: {} KiB",
        rss.unwrap()
    );
    let mut group = c.benchmark_group("startup");
    group.sample_size(20);
    group.bench_function("ready", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_once(false).0).sum())
    });
    group.finish();
}

criterion_group!(
    benches,
    bus_benches,
    pattern_benches,
    load_bench,
    startup_bench
);
criterion_main!(benches);
