//! `tandem script test`: run rules against recorded events, with every
//! command captured instead of executed.
//!
//! The events file has one JSON object per line (blank lines and lines
//! starting with `#` are skipped):
//!
//! ```text
//! {"event": "sip.call.answered", "data": {"call": "c1"}}        publish an event
//! {"reply": "xmpp.presence", "result": {"show": "chat"}}        answer the next call
//! {"reply": "xmpp.set_presence", "error": {"kind": "rejected", "message": "offline"}}
//! {"reply": "xmpp.presence", "result": {}, "always": true}      answer every call
//! {"wait": 20}                                                   let 20 s pass
//! {"command": "call.answer", "args": {}}                         call a command the rule provides
//! ```
//!
//! Time is virtual: `wait` runs `tandem.after` timers at their exact due
//! times without sleeping. A call nobody scripted an answer for gets `{}`.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tandem_sdk::{CommandError, ErrorKind};

use crate::config::Config;
use crate::lua::{Backend, Engine, Limits, LogLevel};

/// Handler rounds a single step may take before the test gives up (a rule
/// that keeps emitting events to itself).
const MAX_SETTLE_ROUNDS: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ScriptTestError {
    #[error("{path}: cannot read: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Script(#[from] crate::lua::ScriptError),
    #[error("cannot start the test runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("{0}")]
    Loop(String),
}

/// One line of the events file, told apart by its first key among
/// `event`, `reply`, `wait` and `command`.
#[derive(Debug)]
enum Step {
    Event(EventStep),
    Reply(ReplyStep),
    Wait(Duration),
    Command(CommandStep),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventStep {
    event: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyStep {
    reply: String,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<ReplyError>,
    #[serde(default)]
    always: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitStep {
    wait: f64,
}

/// Calls a command the rule provides (`tandem.provide`); the answer is
/// printed as `answer` (or `refused`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandStep {
    command: String,
    #[serde(default)]
    args: Value,
}

/// The longest `wait` (about 30 years of virtual time): anything longer is
/// a typo, and the clock could not add it.
const MAX_WAIT_SECONDS: f64 = 1e9;

const STEP_FORMS: &str = "{\"event\": ..., \"data\": ...}, {\"reply\": ..., \"result\"|\"error\": ...}, {\"wait\": seconds} or {\"command\": ..., \"args\": ...}";

impl Step {
    fn parse(line: &str) -> Result<Step, String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let Some(object) = value.as_object() else {
            return Err(format!("expected an object: {STEP_FORMS}"));
        };
        let kind = ["event", "reply", "wait", "command"]
            .into_iter()
            .find(|k| object.contains_key(*k))
            .ok_or_else(|| format!("expected {STEP_FORMS}"))?;
        let fields = |e: serde_json::Error| format!("a `{kind}` line: {e}");
        Ok(match kind {
            "event" => Step::Event(serde_json::from_value(value).map_err(fields)?),
            "reply" => {
                let reply: ReplyStep = serde_json::from_value(value).map_err(fields)?;
                if reply.result.is_some() && reply.error.is_some() {
                    return Err("a `reply` line has a result or an error, not both".to_owned());
                }
                Step::Reply(reply)
            }
            "wait" => {
                let WaitStep { wait } = serde_json::from_value(value).map_err(fields)?;
                if !(0.0..=MAX_WAIT_SECONDS).contains(&wait) {
                    return Err(format!(
                        "wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}, not {wait}"
                    ));
                }
                Step::Wait(Duration::from_secs_f64(wait))
            }
            _ => Step::Command(serde_json::from_value(value).map_err(fields)?),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
struct ReplyError {
    kind: String,
    #[serde(default)]
    message: String,
}

/// How the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The summary of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    pub calls: usize,
    pub errors: u64,
}

struct Recorder {
    out: RefCell<Box<dyn Write>>,
    format: Format,
    start: tokio::time::Instant,
    once: RefCell<HashMap<String, VecDeque<Result<Value, CommandError>>>>,
    always: RefCell<HashMap<String, Result<Value, CommandError>>>,
    emitted: RefCell<VecDeque<(String, String, Value)>>,
    calls: RefCell<usize>,
}

impl Recorder {
    fn line(&self, kind: &str, name: &str, data: Option<&Value>) {
        let t = self.start.elapsed().as_secs_f64();
        let mut out = self.out.borrow_mut();
        let _ = match self.format {
            Format::Text => match data {
                Some(d) => writeln!(out, "{t:>8.3}s  {kind:<5} {name} {d}"),
                None => writeln!(out, "{t:>8.3}s  {kind:<5} {name}"),
            },
            Format::Json => {
                let mut obj = json!({"t": t, "kind": kind, "name": name});
                if let Some(d) = data {
                    obj["data"] = d.clone();
                }
                writeln!(out, "{obj}")
            }
        };
    }
}

impl Backend for Recorder {
    fn call(
        &self,
        name: &str,
        args: Value,
    ) -> LocalBoxFuture<'static, Result<Value, CommandError>> {
        *self.calls.borrow_mut() += 1;
        self.line("call", name, Some(&args));
        let answer = self
            .once
            .borrow_mut()
            .get_mut(name)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.always.borrow().get(name).cloned())
            .unwrap_or_else(|| Ok(json!({})));
        futures_util::future::ready(answer).boxed_local()
    }

    fn emit(&self, source: &str, topic: &str, payload: Value) {
        self.line("emit", topic, Some(&payload));
        self.emitted
            .borrow_mut()
            .push_back((source.to_owned(), topic.to_owned(), payload));
    }

    fn log(&self, _script: &str, level: LogLevel, message: &str) {
        self.line(
            "log",
            level.name(),
            Some(&Value::String(message.to_owned())),
        );
    }

    fn script_error(&self, _script: &str, message: &str) {
        self.line("error", message, None);
    }
}

/// Runs `script` against `events`, writing captured commands to `out`.
pub fn run(
    script: &Path,
    events: &Path,
    config: &Config,
    format: Format,
    out: Box<dyn Write>,
) -> Result<Outcome, ScriptTestError> {
    let text = std::fs::read_to_string(events).map_err(|e| ScriptTestError::Read {
        path: events.to_owned(),
        message: e.to_string(),
    })?;
    let steps = parse_steps(events, &text)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let recorder = Rc::new(Recorder {
            out: RefCell::new(out),
            format,
            start: tokio::time::Instant::now(),
            once: RefCell::default(),
            always: RefCell::default(),
            emitted: RefCell::default(),
            calls: RefCell::new(0),
        });
        let engine = Engine::new(recorder.clone(), Limits::from(&config.lua));
        let name = crate::lua::script_name(script);
        let section = config.script_section(&name);
        engine.load(script, section, config.script_enabled(&name))?;
        settle(&engine, &recorder).await?;
        for (line, step) in steps {
            match step {
                Step::Event(EventStep { event, data, source }) => {
                    let data = if data.is_null() { json!({}) } else { data };
                    engine.dispatch(&event, source.as_deref().unwrap_or("test"), &data.to_string());
                }
                Step::Reply(ReplyStep { reply, result, error, always }) => {
                    let answer = match (result, error) {
                        (_, Some(e)) => Err(CommandError::new(
                            ErrorKind::from_name(&e.kind).ok_or_else(|| ScriptTestError::Line {
                                path: events.to_owned(),
                                line,
                                message: format!("unknown error kind `{}` (use rejected, timeout, unknown_command, plugin_failed, invalid_arguments or internal)", e.kind),
                            })?,
                            e.message,
                        )),
                        (Some(v), None) => Ok(v),
                        (None, None) => Ok(json!({})),
                    };
                    if always {
                        recorder.always.borrow_mut().insert(reply, answer);
                    } else {
                        recorder.once.borrow_mut().entry(reply).or_default().push_back(answer);
                    }
                }
                Step::Command(CommandStep { command, args }) => {
                    let args = if args.is_null() { json!({}) } else { args };
                    let out = recorder.clone();
                    let name = command.clone();
                    engine.serve(&command, &args.to_string(), Box::new(move |answer| match answer {
                        Ok(value) => out.line("answer", &name, Some(&value)),
                        Err(e) => out.line("refused", &name, Some(&json!({"kind": e.kind.name(), "message": e.message}))),
                    }));
                }
                Step::Wait(wait) => {
                    // Paused clock: the runtime jumps from timer to timer.
                    let deadline = tokio::time::Instant::now() + wait;
                    loop {
                        tokio::time::sleep_until(deadline).await;
                        settle(&engine, &recorder).await?;
                        if tokio::time::Instant::now() >= deadline {
                            break;
                        }
                    }
                }
            }
            settle(&engine, &recorder).await?;
        }
        let calls = *recorder.calls.borrow();
        Ok(Outcome {
            calls,
            errors: engine.errors(),
        })
    })
}

/// Lets every handler run to completion (or to a timer), feeding emitted
/// events back to the scripts.
async fn settle(engine: &Engine, recorder: &Recorder) -> Result<(), ScriptTestError> {
    for _ in 0..MAX_SETTLE_ROUNDS {
        tokio::task::yield_now().await;
        let next = recorder.emitted.borrow_mut().pop_front();
        match next {
            Some((source, topic, payload)) => {
                engine.dispatch(&topic, &source, &payload.to_string())
            }
            None if engine.in_flight() == 0 => {
                // One more round for continuations scheduled just now.
                tokio::task::yield_now().await;
                if engine.in_flight() == 0 && recorder.emitted.borrow().is_empty() {
                    return Ok(());
                }
            }
            None => {}
        }
    }
    Err(ScriptTestError::Loop(format!(
        "the rules did not settle after {MAX_SETTLE_ROUNDS} rounds: an event loop between handlers?"
    )))
}

fn parse_steps(path: &Path, text: &str) -> Result<Vec<(usize, Step)>, ScriptTestError> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let step = Step::parse(line).map_err(|message| ScriptTestError::Line {
            path: path.to_owned(),
            line: i + 1,
            message,
        })?;
        steps.push((i + 1, step));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::Step;

    fn refused(line: &str) -> String {
        Step::parse(line).unwrap_err()
    }

    #[test]
    fn each_kind_of_line_parses() {
        assert!(matches!(
            Step::parse(r#"{"event": "a", "data": {}}"#),
            Ok(Step::Event(_))
        ));
        assert!(matches!(
            Step::parse(r#"{"reply": "x", "result": 1}"#),
            Ok(Step::Reply(_))
        ));
        assert!(matches!(Step::parse(r#"{"wait": 2.5}"#), Ok(Step::Wait(_))));
        assert!(matches!(
            Step::parse(r#"{"command": "x"}"#),
            Ok(Step::Command(_))
        ));
    }

    #[test]
    fn a_bad_line_is_told_what_is_wrong_with_it() {
        let e = refused(r#"{"event": "a", "dat": {}}"#);
        assert!(e.contains("unknown field `dat`"), "{e}");
        let e = refused(r#"{"evnt": "a"}"#);
        assert!(e.contains(r#"{"command": "#), "{e}");
        let e = refused(r#"{"reply": "x", "result": 1, "error": {"kind": "rejected"}}"#);
        assert!(e.contains("not both"), "{e}");
        for wait in ["1e30", "-1"] {
            let e = refused(&format!(r#"{{"wait": {wait}}}"#));
            assert!(e.contains("wait must be"), "{e}");
        }
        let e = refused("[1]");
        assert!(e.contains("an object"), "{e}");
    }
}
