//! The engine against real Lua, with a recording backend in place of the bus.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Map, Value};
use tandem_sdk::{CommandError, ErrorKind};

use super::*;

#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<(String, Value)>>,
    answers: RefCell<HashMap<String, Result<Value, CommandError>>>,
    emitted: RefCell<Vec<(String, Value)>>,
    logs: RefCell<Vec<String>>,
    errors: RefCell<Vec<String>>,
    /// (script, command, provided?) in order.
    provided: RefCell<Vec<(String, String, bool)>>,
}

impl Backend for Recorder {
    fn call(
        &self,
        name: &str,
        args: Value,
    ) -> LocalBoxFuture<'static, Result<Value, CommandError>> {
        self.calls.borrow_mut().push((name.to_owned(), args));
        let answer = self
            .answers
            .borrow()
            .get(name)
            .cloned()
            .unwrap_or_else(|| Ok(json!({})));
        async move {
            tokio::task::yield_now().await;
            answer
        }
        .boxed_local()
    }
    fn emit(&self, _source: &str, topic: &str, payload: Value) {
        self.emitted.borrow_mut().push((topic.to_owned(), payload));
    }
    fn log(&self, _script: &str, level: LogLevel, message: &str) {
        self.logs
            .borrow_mut()
            .push(format!("{}: {message}", level.name()));
    }
    fn script_error(&self, _script: &str, message: &str) {
        self.errors.borrow_mut().push(message.to_owned());
    }
    fn provide(&self, script: &str, command: &str) -> Result<(), String> {
        if command == "taken.elsewhere" {
            return Err("`taken.elsewhere` is already provided by `xmpp`".into());
        }
        self.provided
            .borrow_mut()
            .push((script.into(), command.into(), true));
        Ok(())
    }
    fn withdraw(&self, script: &str, command: &str) {
        self.provided
            .borrow_mut()
            .push((script.into(), command.into(), false));
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    recorder: Rc<Recorder>,
    engine: Engine,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_limits(Limits {
            instruction_budget: 200_000,
            memory_limit: 8 << 20,
            time_limit: None,
        })
    }

    fn with_limits(limits: Limits) -> Fixture {
        let recorder = Rc::new(Recorder::default());
        let engine = Engine::new(recorder.clone(), limits);
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            recorder,
            engine,
        }
    }

    fn write(&self, name: &str, source: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(source.as_bytes())
            .unwrap();
        path
    }

    fn load(&self, name: &str, source: &str) -> Result<String, ScriptError> {
        let path = self.write(name, source);
        self.engine.load(&path, Map::new(), None)
    }

    async fn settle(&self) {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    fn errors(&self) -> Vec<String> {
        self.recorder.errors.borrow().clone()
    }
}

async fn local<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(f).await
}

#[tokio::test(flavor = "current_thread")]
async fn a_handler_reads_top_to_bottom_across_commands() {
    local(async {
        let fx = Fixture::new();
        fx.recorder
            .answers
            .borrow_mut()
            .insert("xmpp.presence".into(), Ok(json!({"show": "chat", "status": "here"})));
        fx.load(
            "rule.lua",
            r#"
            tandem.on("sip.call.answered", function(ev, topic)
              local before = tandem.call("xmpp.presence", {})
              tandem.state.saved = before
              tandem.call("xmpp.set_presence", {show = "away", status = "was " .. before.status .. " on " .. ev.call .. " " .. topic})
            end)
            "#,
        )
        .unwrap();
        fx.engine.dispatch("sip.call.answered", "sip", r#"{"call":"c1"}"#);
        fx.settle().await;
        let calls = fx.recorder.calls.borrow().clone();
        assert_eq!(calls[0].0, "xmpp.presence");
        assert_eq!(calls[1], ("xmpp.set_presence".into(), json!({"show": "away", "status": "was here on c1 sip.call.answered"})));
        assert!(fx.errors().is_empty(), "{:?}", fx.errors());
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_command_raises_with_the_line_and_try_call_returns_the_error() {
    local(async {
        let fx = Fixture::new();
        fx.recorder
            .answers
            .borrow_mut()
            .insert("x.fail".into(), Err(CommandError::new(ErrorKind::Rejected, "not now")));
        fx.load(
            "rule.lua",
            "tandem.on('a', function()\n  local r, err = tandem.try_call('x.fail', {})\n  tandem.log.info('try', r, err.kind, err.message, tostring(err))\n  tandem.call('x.fail', {})\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        let logs = fx.recorder.logs.borrow().clone();
        assert_eq!(logs, vec!["info: try nil rejected not now rejected: not now"]);
        let errors = fx.errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("rule.lua:4: x.fail: rejected: not now"), "{errors:?}");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_runaway_loop_is_stopped_with_its_line_and_others_keep_running() {
    local(async {
        let fx = Fixture::new();
        fx.load("loop.lua", "tandem.on('go', function()\n  while true do end\nend)\n").unwrap();
        fx.load(
            "sneaky.lua",
            "tandem.on('go', function()\n  while true do pcall(function() while true do end end) end\nend)\n",
        )
        .unwrap();
        fx.load("good.lua", "tandem.on('go', function() tandem.emit('done', {}) end)\n").unwrap();
        fx.engine.dispatch("go", "test", "{}");
        fx.engine.dispatch("go", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("loop.lua:2") && e.contains("instruction budget")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("sneaky.lua:2") && e.contains("instruction budget")), "{errors:?}");
        assert_eq!(fx.recorder.emitted.borrow().len(), 2);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_backtracking_pattern_is_stopped_by_the_budget_and_others_keep_running() {
    local(async {
        let fx = Fixture::new();
        // One C call of stock Lua's string.find would run for minutes here.
        fx.load(
            "pattern.lua",
            "tandem.on('go', function()\n  local s = ('a'):rep(5000)\n  if string.find(s, '.-.-.-.-x') then tandem.emit('found', {}) end\n  tandem.emit('not stopped', {})\nend)\n\
             tandem.on('go', function()\n  local ok, err = pcall(function() return ('a'):rep(5000):gsub('.-.-.-.-x', '') end)\n  tandem.emit('caught', {})\nend)\n\
             tandem.on('go', function() tandem.emit('same rule', {n = #('a b c'):gsub('%s', '')}) end)\n",
        )
        .unwrap();
        fx.load("good.lua", "tandem.on('go', function() tandem.emit('done', {}) end)\n").unwrap();
        fx.engine.dispatch("go", "test", "{}");
        fx.engine.dispatch("go", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 4, "{errors:?}");
        for (i, line) in [(0, 3), (1, 7), (2, 3), (3, 7)] {
            assert!(
                errors[i].contains(&format!("pattern.lua:{line}: instruction budget of 200000 exceeded (a runaway loop?)")),
                "{errors:?}"
            );
        }
        let emitted: Vec<String> = fx.recorder.emitted.borrow().iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(emitted, ["done", "same rule", "done", "same rule"]);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_memory_bomb_is_stopped_and_the_script_still_works() {
    local(async {
        let fx = Fixture::new();
        fx.load(
            "bomb.lua",
            "tandem.on('bomb', function()\n  local t = {}\n  for i = 1, 1e9 do t[i] = string.rep('x', 64) .. i end\nend)\ntandem.on('ok', function() tandem.emit('fine', {}) end)\n",
        )
        .unwrap();
        fx.engine.dispatch("bomb", "test", "{}");
        fx.engine.dispatch("ok", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("bomb.lua:1"), "{errors:?}");
        // The line that allocates, not only where the handler starts.
        assert!(errors[0].contains("bomb.lua:3"), "{errors:?}");
        assert!(errors[0].contains("memory") || errors[0].contains("instruction budget"), "{errors:?}");
        assert_eq!(fx.recorder.emitted.borrow().len(), 1);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_memory_error_names_the_line_that_allocates() {
    local(async {
        // A budget far beyond what the bomb needs: the memory limit stops it.
        let fx = Fixture::with_limits(Limits {
            instruction_budget: u64::MAX,
            memory_limit: 4 << 20,
            time_limit: None,
        });
        fx.load(
            "bomb.lua",
            "tandem.on('bomb', function()\n  local t = {}\n  for i = 1, 1e9 do t[i] = 'x' .. i end\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("bomb", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("/bomb.lua:3: memory limit of 4 MiB exceeded"),
            "{errors:?}"
        );
        assert!(errors[0].contains("stopped at "), "{errors:?}");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn after_running_out_of_memory_the_next_handler_has_its_memory_back() {
    local(async {
        let fx = Fixture::with_limits(Limits {
            instruction_budget: u64::MAX,
            memory_limit: 4 << 20,
            time_limit: None,
        });
        // The bomb's table is garbage once its handler has failed: the
        // rule's next handler must not fail for want of that memory (a
        // rule near its limit would otherwise fail twice for one bomb).
        fx.load(
            "rule.lua",
            "tandem.on('bomb', function()\n  local t = {}\n  for i = 1, 1e9 do t[i] = {} end\nend)\n\
             tandem.on('big', function() tandem.emit('built', { n = #string.rep('x', 3 << 19) }) end)\n",
        )
        .unwrap();
        // 1.5 MiB of string (and as much of buffer) fits in 4 MiB...
        fx.engine.dispatch("big", "test", "{}");
        fx.settle().await;
        assert_eq!(fx.recorder.emitted.borrow().len(), 1, "{:?}", fx.errors());
        // ...and still does right after the bomb.
        fx.engine.dispatch("bomb", "test", "{}");
        fx.engine.dispatch("big", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 1, "only the bomb fails: {errors:?}");
        assert!(errors[0].contains("memory limit"), "{errors:?}");
        assert_eq!(fx.recorder.emitted.borrow().len(), 2, "{errors:?}");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn slow_work_inside_few_instructions_is_stopped_by_the_time_limit() {
    local(async {
        // No instruction budget to speak of: each `upper` of a megabyte is
        // one instruction, and the count alone let this run for hours.
        let fx = Fixture::with_limits(Limits {
            instruction_budget: u64::MAX,
            memory_limit: 16 << 20,
            time_limit: Some(std::time::Duration::from_millis(200)),
        });
        fx.load(
            "slow.lua",
            "tandem.on('slow', function()\n  local s = string.rep('x', 1 << 20)\n  for i = 1, 1e9 do s:upper() end\nend)\n\
             tandem.on('ok', function() tandem.emit('fine', {}) end)\n",
        )
        .unwrap();
        fx.engine.dispatch("slow", "test", "{}");
        fx.engine.dispatch("ok", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("/slow.lua:3: time limit of 200 ms exceeded"),
            "{errors:?}"
        );
        assert_eq!(fx.recorder.emitted.borrow().len(), 1, "the other handler ran");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_memory_bomb_at_the_top_level_names_file_and_line() {
    local(async {
        let fx = Fixture::new();
        let err = fx
            .load(
                "top.lua",
                "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 64) .. i end\n",
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("top.lua:2"), "{err}");
        assert!(
            err.contains("memory") || err.contains("instruction budget"),
            "{err}"
        );
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_syntax_error_names_file_and_line() {
    local(async {
        let fx = Fixture::new();
        let err = fx
            .load(
                "broken.lua",
                "local x = 1\ntandem.on('a', function()\n  x = = 2\nend)\n",
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ScriptError::Syntax(_)));
        assert!(text.contains("broken.lua:3"), "{text}");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_runtime_error_at_load_names_file_and_line() {
    local(async {
        let fx = Fixture::new();
        let err = fx
            .load("bad.lua", "\n\nlocal t = nil\nt.x = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("bad.lua:4"), "{err}");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn reload_replaces_handlers_and_keeps_state() {
    local(async {
        let fx = Fixture::new();
        let v1 = "tandem.state.n = (tandem.state.n or 0) + 1\ntandem.on('e', function() tandem.emit('v1', {n = tandem.state.n}) end)\n";
        let v2 = "tandem.state.n = (tandem.state.n or 0) + 10\ntandem.on('e', function() tandem.emit('v2', {n = tandem.state.n}) end)\n";
        fx.load("r.lua", v1).unwrap();
        fx.load("r.lua", v2).unwrap();
        // A broken version keeps v2 running.
        assert!(fx.load("r.lua", "tandem.on(").is_err());
        fx.engine.dispatch("e", "test", "{}");
        fx.settle().await;
        assert_eq!(*fx.recorder.emitted.borrow(), vec![("v2".to_owned(), json!({"n": 11}))]);
        assert_eq!(fx.engine.scripts().len(), 1);
        assert_eq!(fx.engine.patterns(), vec!["e".to_owned()]);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn sandbox_escapes_fail() {
    local(async {
        let fx = Fixture::new();
        for (i, attempt) in [
            "io.open('/etc/passwd')",
            "os.execute('true')",
            "require 'ffi'",
            "load(string.dump(function() end))",
            "os.remove('/tmp/x')",
            "debug.getinfo(1)",
            "package.loadlib('libc.so.6', 'system')",
        ]
        .iter()
        .enumerate()
        {
            let err = fx
                .load(&format!("escape{i}.lua"), attempt)
                .unwrap_err()
                .to_string();
            assert!(err.contains("attempt to"), "{attempt}: {err}");
        }
    })
    .await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timers_fire_and_can_be_cancelled() {
    local(async {
        let fx = Fixture::new();
        fx.load(
            "t.lua",
            "tandem.on('a', function()\n  tandem.after(5, function() tandem.emit('five', {}) end)\n  local id = tandem.after(1, function() tandem.emit('never', {}) end)\n  tandem.cancel(id)\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("a", "test", "{}");
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        assert!(fx.recorder.emitted.borrow().is_empty());
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(fx.recorder.emitted.borrow().len(), 1);
        assert_eq!(fx.recorder.emitted.borrow()[0].0, "five");
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn settings_fill_defaults_and_refuse_typos_and_wrong_types() {
    local(async {
        let fx = Fixture::new();
        let source = "local cfg = tandem.settings({ show = 'away', n = 1, on = true }, { n = 'number|string' })\n\
                      tandem.on('a', function() tandem.emit('cfg', cfg) end)\n";
        let path = fx.write("rule.lua", source);
        let load = |config: Value| {
            let Value::Object(config) = config else { unreachable!() };
            fx.engine.load(&path, config, None)
        };

        load(json!({"n": "many", "enabled": true})).unwrap();
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        assert_eq!(
            fx.recorder.emitted.borrow()[0].1,
            json!({"show": "away", "n": "many", "on": true})
        );

        let err = load(json!({"shw": "dnd"})).unwrap_err().to_string();
        assert!(err.contains("rule.lua:1"), "{err}");
        assert!(err.contains("[scripts.rule] unknown key `shw`"), "{err}");
        assert!(err.contains("this rule reads: n, on, show"), "{err}");

        let err = load(json!({"on": "no"})).unwrap_err().to_string();
        assert!(err.contains("`on` must be a boolean, not a string"), "{err}");
        let err = load(json!({"n": true})).unwrap_err().to_string();
        assert!(err.contains("`n` must be a number or string, not a boolean"), "{err}");
    })
    .await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timer_too_far_away_is_an_error_with_its_line() {
    local(async {
        let fx = Fixture::new();
        fx.load(
            "far.lua",
            "tandem.on('a', function()\n  tandem.after(1e30, function() end)\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        let errors = fx.recorder.errors.borrow();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("far.lua:2"), "{}", errors[0]);
        assert!(errors[0].contains("tandem.after"), "{}", errors[0]);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_rule_is_told_when_it_is_switched_and_no_other_rule_is() {
    local(async {
        let fx = Fixture::new();
        let rule = "tandem.on('rule.switched', function(ev) tandem.emit(tandem.script, ev) end)\n\
                    tandem.on('a', function() tandem.emit('a seen', {}) end)\n";
        fx.load("one.lua", rule).unwrap();
        fx.load("two.lua", rule).unwrap();
        assert!(fx.engine.set_enabled("one", false));
        assert!(fx.engine.set_enabled("one", false)); // no change: no event
        fx.engine.dispatch("a", "test", "{}");
        assert!(fx.engine.set_enabled("one", true));
        fx.settle().await;
        let emitted = fx.recorder.emitted.borrow();
        let topics: Vec<(&str, &Value)> = emitted.iter().map(|(t, v)| (t.as_str(), v)).collect();
        assert_eq!(
            topics,
            [
                ("one", &json!({"enabled": false})),
                ("a seen", &json!({})),
                ("one", &json!({"enabled": true})),
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_disabled_script_handles_nothing() {
    local(async {
        let fx = Fixture::new();
        let path = fx.write(
            "off.lua",
            "tandem.on('a', function() tandem.emit('x', {}) end)",
        );
        fx.engine
            .load(Path::new(&path), Map::new(), Some(false))
            .unwrap();
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        assert!(fx.recorder.emitted.borrow().is_empty());
        fx.engine.set_enabled("off", true);
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        assert_eq!(fx.recorder.emitted.borrow().len(), 1);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn an_opt_in_rule_is_off_until_the_config_switches_it_on() {
    local(async {
        let fx = Fixture::new();
        let source =
            "tandem.on('a', function() tandem.emit('x', {}) end)\nreturn { enabled = false }";
        let path = fx.write("optin.lua", source);
        fx.engine.load(&path, Map::new(), None).unwrap();
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        assert!(fx.recorder.emitted.borrow().is_empty(), "off by default");
        assert!(!fx.engine.scripts()[0].2);

        fx.engine.load(&path, Map::new(), Some(true)).unwrap();
        fx.engine.dispatch("a", "test", "{}");
        fx.settle().await;
        assert_eq!(
            fx.recorder.emitted.borrow().len(),
            1,
            "on when the config says so"
        );
    })
    .await
}

/// Serves `command` and waits for the answer.
async fn serve(fx: &Fixture, command: &str, args: Value) -> Result<Value, CommandError> {
    let slot = Rc::new(RefCell::new(None));
    let out = slot.clone();
    fx.engine.serve(
        command,
        &args.to_string(),
        Box::new(move |answer| *out.borrow_mut() = Some(answer)),
    );
    fx.settle().await;
    let answer = slot.borrow_mut().take();
    answer.expect("the command was never answered")
}

#[tokio::test(flavor = "current_thread")]
async fn a_rule_provides_commands_that_may_call_others() {
    local(async {
        let fx = Fixture::new();
        fx.recorder
            .answers
            .borrow_mut()
            .insert("xmpp.presence".into(), Ok(json!({"show": "dnd"})));
        fx.load(
            "calls.lua",
            r#"
            tandem.provide("calls.greet", function(args)
              local p = tandem.call("xmpp.presence", {})
              return { text = "hello " .. args.who, show = p.show }
            end)
            tandem.provide("calls.refuse", function(args)
              return nil, "not now"
            end)
            tandem.provide("calls.broken", function(args)
              return args.missing.field
            end)
            "#,
        )
        .unwrap();
        assert_eq!(
            serve(&fx, "calls.greet", json!({"who": "bob"}))
                .await
                .unwrap(),
            json!({"text": "hello bob", "show": "dnd"})
        );
        let refused = serve(&fx, "calls.refuse", json!({})).await.unwrap_err();
        assert_eq!(
            (refused.kind, refused.message.as_str()),
            (ErrorKind::Rejected, "not now")
        );
        let broken = serve(&fx, "calls.broken", json!({})).await.unwrap_err();
        assert_eq!(broken.kind, ErrorKind::Internal);
        assert!(broken.message.contains("calls.lua:"), "{}", broken.message);
        assert_eq!(fx.errors().len(), 1, "the failure is reported once");
        let unknown = serve(&fx, "calls.nothing", json!({})).await.unwrap_err();
        assert_eq!(unknown.kind, ErrorKind::UnknownCommand);

        fx.engine.set_enabled("calls", false);
        let off = serve(&fx, "calls.greet", json!({"who": "x"}))
            .await
            .unwrap_err();
        assert_eq!(off.kind, ErrorKind::SwitchedOff);
        assert!(off.message.contains("switched off"), "{}", off.message);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn provided_commands_follow_reloads_and_unloads() {
    local(async {
        let fx = Fixture::new();
        fx.load(
            "p.lua",
            r#"
            tandem.provide("p.keep", function() return 1 end)
            tandem.provide("p.drop", function() return 2 end)
            "#,
        )
        .unwrap();
        fx.load(
            "p.lua",
            r#"tandem.provide("p.keep", function() return 10 end)"#,
        )
        .unwrap();
        assert_eq!(serve(&fx, "p.keep", json!({})).await.unwrap(), json!(10));
        let dropped = serve(&fx, "p.drop", json!({})).await.unwrap_err();
        assert_eq!(dropped.kind, ErrorKind::UnknownCommand);

        // A failing reload keeps the running version's commands.
        fx.load(
            "p.lua",
            "tandem.provide('p.new', function() end) error('boom')",
        )
        .unwrap_err();
        assert_eq!(serve(&fx, "p.keep", json!({})).await.unwrap(), json!(10));

        assert!(fx.engine.unload("p"));
        let log: Vec<_> = fx.recorder.provided.borrow().clone();
        let said = |c: &str, on: bool| log.iter().any(|(s, n, p)| s == "p" && n == c && *p == on);
        assert!(said("p.drop", false), "{log:?}");
        assert!(
            said("p.new", false),
            "the failed reload's new command is withdrawn: {log:?}"
        );
        assert!(said("p.keep", false), "{log:?}");

        let err = fx
            .load(
                "q.lua",
                r#"tandem.provide("taken.elsewhere", function() end)"#,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("already provided by `xmpp`"),
            "{err}"
        );
        let err = fx
            .load("r.lua", r#"tandem.provide("host.status", function() end)"#)
            .unwrap_err();
        assert!(err.to_string().contains("belong to the host"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn handlers_see_topic_and_source_when_they_ask_for_them() {
    local(async {
        let fx = Fixture::new();
        fx.load(
            "args.lua",
            r#"
            tandem.on("a.*", function(...)
              local ev, topic, source = ...
              tandem.emit("seen", { n = ev.n, topic = topic, source = source })
            end)
            tandem.on("a.*", function(ev, topic, source, extra)
              tandem.emit("seen", { n = ev.n, topic = topic, source = source, extra = extra })
            end)
            "#,
        )
        .unwrap();
        fx.engine.dispatch("a.b", "sip", r#"{"n":1}"#);
        fx.settle().await;
        let seen = fx.recorder.emitted.borrow().clone();
        let expected = json!({"n": 1, "topic": "a.b", "source": "sip"});
        assert_eq!(
            seen,
            vec![("seen".into(), expected.clone()), ("seen".into(), expected)]
        );
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_gsub_replacement_that_misbehaves_fails_its_handler_and_nothing_else() {
    local(async {
        let fx = Fixture::new();
        // Each handler leaves gsub by an error from inside its replacement
        // function (Lua unwinds over the Rust frames of gsub); the state
        // and the other rules must carry on as if nothing happened.
        fx.load(
            "repl.lua",
            "local s = ('word '):rep(2000)\n\
             tandem.on('call', function() s:gsub('%w+', function(w) return tandem.call('x.y', {}) end) end)\n\
             tandem.on('table', function() s:gsub('%w+', function(w) error({code = 7}) end) end)\n\
             tandem.on('loop', function() s:gsub('%w+', function(w)\n  while true do end\nend) end)\n\
             tandem.on('memory', function() local t = {} s:gsub('%w+', function(w)\n  t[#t + 1] = s .. #t\nend) end)\n\
             tandem.on('ok', function() tandem.emit('ok', {n = select(2, s:sub(1, 500):gsub('%w+', '%0'))}) end)\n",
        )
        .unwrap();
        fx.load("other.lua", "tandem.on('ok', function() tandem.emit('other', {}) end)\n").unwrap();
        for topic in ["call", "table", "loop", "memory", "ok"] {
            fx.engine.dispatch(topic, "test", "{}");
            fx.settle().await;
        }
        // (`ok` stays within one buffer's own storage: lauxlib grows a
        // buffer without Lua's emergency collection, so right after the
        // memory failure, before the GC has caught up, any longer result
        // of gsub, string.rep or table.concat may fail too.)
        let errors = fx.errors();
        assert_eq!(errors.len(), 4, "{errors:?}");
        // A yield cannot cross gsub (nor Lua's own): refused, with why and
        // the rule's line, not Lua's "attempt to yield across a C-call
        // boundary".
        assert!(
            errors[0].contains("repl.lua:2 (handler for call): tandem.call(x.y) cannot wait for its answer here"),
            "{errors:?}"
        );
        assert!(fx.recorder.calls.borrow().is_empty());
        assert!(errors[1].contains("table"), "{errors:?}");
        assert!(
            errors[2].contains("repl.lua:5: instruction budget of 200000 exceeded"),
            "{errors:?}"
        );
        assert!(errors[3].contains("memory limit of 8 MiB exceeded"), "{errors:?}");
        let mut emitted = fx.recorder.emitted.borrow().clone();
        emitted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            emitted,
            vec![("ok".into(), json!({"n": 100})), ("other".into(), json!({}))]
        );
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_tree_of_short_coroutines_is_stopped_by_the_budget() {
    local(async {
        let fx = Fixture::new();
        // Each coroutine runs fewer instructions than the hook's period, so
        // the count hook never fires in any of them: some 150 million
        // instructions ran under a budget of 200 000 before coroutines were
        // charged when created (and a deeper tree ran for good).
        fx.load(
            "tree.lua",
            "tandem.on('go', function()\n  local n = 0\n  local function work(depth)\n    for i = 1, 100 do n = n + 1 end\n    if depth > 0 then for c = 1, 8 do coroutine.wrap(work)(depth - 1) end end\n  end\n  coroutine.wrap(work)(6)\n  tandem.emit('done', {n = n})\nend)\n\
             tandem.on('go', function()\n  local function work(depth)\n    if depth > 0 then for c = 1, 8 do coroutine.resume(coroutine.create(work), depth - 1) end end\n  end\n  work(6)\n  tandem.emit('done', {})\nend)\n",
        )
        .unwrap();
        fx.load(
            "gen.lua",
            "tandem.on('go', function()\n  local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)\n  tandem.emit('gen', {gen(), gen(), gen()})\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("go", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("stopped at") && errors[0].contains("tree.lua:5") && errors[0].contains("instruction budget"), "{errors:?}");
        assert!(errors[1].contains("stopped at") && errors[1].contains("tree.lua:12") && errors[1].contains("instruction budget"), "{errors:?}");
        let emitted = fx.recorder.emitted.borrow().clone();
        assert_eq!(emitted, [("gen".to_owned(), json!([1, 2, 3]))]);
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn handlers_and_timers_are_limited_per_rule() {
    local(async {
        let fx = Fixture::with_limits(Limits {
            instruction_budget: 10_000_000,
            memory_limit: 32 << 20,
            time_limit: None,
        });
        // Both used to run until the budget or mlua's reference stack gave
        // out: minutes of copying handler lists, or ~600 MB of timers.
        fx.load(
            "many.lua",
            "tandem.on('timers', function()\n  local f = function() end\n  for i = 1, 1e7 do tandem.after(1e6, f) end\nend)\n\
             tandem.on('handlers', function()\n  local f = function() end\n  for i = 1, 1e7 do tandem.on('x', f) end\nend)\n\
             tandem.on('provide', function()\n  local f = function() end\n  for i = 1, 1e7 do tandem.provide('many.c' .. i, f) end\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("timers", "test", "{}");
        fx.engine.dispatch("handlers", "test", "{}");
        fx.engine.dispatch("provide", "test", "{}");
        fx.settle().await;
        let errors = fx.errors();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("many.lua:3: tandem.after: this rule has 10000 timers pending already"), "{errors:?}");
        assert!(errors[1].contains("many.lua:7: tandem.on: this rule has 1000 handlers already"), "{errors:?}");
        assert!(errors[2].contains("many.lua:11: tandem.provide: this rule provides 1000 commands already"), "{errors:?}");
        // A timer that fired or was cancelled frees its place.
        fx.load(
            "cycle.lua",
            "tandem.on('go', function()\n  for i = 1, 3 * 10000 do tandem.cancel(tandem.after(1e6, function() end)) end\n  tandem.emit('done', {})\nend)\n",
        )
        .unwrap();
        fx.engine.dispatch("go", "test", "{}");
        fx.settle().await;
        assert_eq!(fx.errors().len(), 3, "{:?}", fx.errors());
        assert_eq!(fx.recorder.emitted.borrow().len(), 1);
    })
    .await
}
