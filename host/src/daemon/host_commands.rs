//! Commands the host itself answers on the bus, so rules (the shipped
//! `status-commands.lua`'s ad-hoc "Status" and "Presence rules on/off"),
//! plugins and `tandem ctl` see one view of the running daemon.
//!
//! - `host.status` → plugins, rules, commands, per-subscriber event counters
//! - `host.set_rule {name, enabled}` → switches a rule on or off

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use abi_stable::std_types::{RErr, ROk};
use serde::Deserialize;
use serde_json::{json, Value};
use tandem_sdk::abi::FfiReplyBox;
use tandem_sdk::{CommandError, ErrorKind, Payload};

use crate::bus::{Bus, CommandProvider, WeakBus};
use crate::lua::service::{EngineUnavailable, LuaControl, Stats as LuaStats};

pub const STATUS: &str = "host.status";
pub const SET_RULE: &str = "host.set_rule";

/// A started plugin, as the status reports it.
#[derive(Clone)]
pub struct PluginEntry {
    pub id: String,
    pub version: String,
    pub failed: Arc<AtomicBool>,
}

/// Arguments of `host.set_rule`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRule {
    name: String,
    enabled: bool,
}

/// The host's command provider.
pub struct HostCommands {
    bus: WeakBus,
    lua: LuaControl,
    lua_stats: Arc<LuaStats>,
    plugins: Mutex<Vec<PluginEntry>>,
    started: Instant,
}

impl HostCommands {
    /// Registers `host.*` on `bus`. Plugins are added once started.
    pub fn register(bus: &Bus, lua: LuaControl, lua_stats: Arc<LuaStats>) -> Arc<HostCommands> {
        let commands = Arc::new(HostCommands {
            bus: bus.downgrade(),
            lua,
            lua_stats,
            plugins: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        for name in [STATUS, SET_RULE] {
            // A fresh bus has no provider yet, so this cannot collide.
            let _ = bus.provide(
                name,
                "host",
                Arc::new(AtomicBool::new(false)),
                commands.clone(),
            );
        }
        commands
    }

    pub fn add_plugin(&self, entry: PluginEntry) {
        self.plugins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
    }

    /// Everything but the rules, which the engine thread adds.
    fn status(&self) -> Value {
        let plugins: Vec<_> = self
            .plugins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "version": p.version,
                    "failed": p.failed.load(Ordering::Relaxed),
                })
            })
            .collect();
        let bus = self.bus.upgrade();
        let commands: Vec<_> = bus
            .as_ref()
            .map(|b| b.commands())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, provider)| json!({ "name": name, "provider": provider }))
            .collect();
        let subscribers = bus.map(|b| b.stats()).unwrap_or_default();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "plugins": plugins,
            "rules": [],
            "commands": commands,
            "subscribers": subscribers,
            "lua": {
                "handled": self.lua_stats.handled.load(Ordering::Relaxed),
                "errors": self.lua_stats.errors.load(Ordering::Relaxed),
                "reloads": self.lua_stats.reloads.load(Ordering::Relaxed),
            },
        })
    }
}

fn send(mut reply: FfiReplyBox, result: Result<Value, CommandError>) {
    reply.send(match result {
        Ok(value) => ROk(value.to_string().into()),
        Err(e) => RErr(e.into()),
    });
}

type Answer = Box<dyn FnOnce(Result<Value, CommandError>) + Send>;

/// Answers `reply` from the Lua engine's thread: `ask` hands the engine the
/// answer callback. If the engine cannot take the request, the caller is
/// told so at once rather than waiting for a timeout.
fn through_engine(reply: FfiReplyBox, ask: impl FnOnce(Answer) -> Result<(), EngineUnavailable>) {
    let slot = Arc::new(Mutex::new(Some(reply)));
    let take = |slot: &Mutex<Option<FfiReplyBox>>| slot.lock().ok().and_then(|mut r| r.take());
    let from_engine = slot.clone();
    let asked = ask(Box::new(move |result| {
        if let Some(reply) = take(&from_engine) {
            send(reply, result);
        }
    }));
    if let Err(e) = asked {
        if let Some(reply) = take(&slot) {
            send(reply, Err(CommandError::internal(e.to_string())));
        }
    }
}

impl CommandProvider for HostCommands {
    fn command(&self, name: &str, args: String, reply: FfiReplyBox) {
        match name {
            STATUS => {
                // The rule list lives on the engine thread: finish there.
                let mut status = self.status();
                through_engine(reply, |answer| {
                    self.lua.rules(move |rules| {
                        status["rules"] = json!(rules);
                        answer(Ok(status));
                    })
                });
            }
            SET_RULE => {
                let SetRule { name, enabled } = match Payload::from_json(args)
                    .map_err(CommandError::from)
                    .and_then(|p| p.decode::<SetRule>().map_err(CommandError::from))
                {
                    Ok(args) => args,
                    Err(e) => return send(reply, Err(e)),
                };
                through_engine(reply, |answer| {
                    let rule = name.clone();
                    self.lua.set_enabled(&name, enabled, move |found| {
                        answer(if found {
                            Ok(json!({ "name": rule, "enabled": enabled }))
                        } else {
                            Err(CommandError::new(
                                ErrorKind::InvalidArguments,
                                format!("no rule named `{rule}` is loaded"),
                            ))
                        })
                    })
                });
            }
            other => send(reply, Err(CommandError::unknown_command(other))),
        }
    }
}
