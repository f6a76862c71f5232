//! Commands the host itself answers on the bus, so rules (the shipped
//! `status-commands.lua`'s ad-hoc "Status" and "Rules"),
//! plugins and `tandem ctl` see one view of the running daemon. Their types
//! are the SDK's (`tandem_sdk::commands::host`), so every caller reads the same.
//!
//! - `host.status` → plugins, rules, commands, per-subscriber event counters
//! - `host.set_rule {name, enabled}` → switches a rule on or off

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tandem_sdk::commands::host::{
    CommandProvider as CommandOwner, GetStatus, LuaStatus, PluginStatus, RuleStatus, RuleSwitched,
    SetRule, Status, SubscriberStatus,
};
use tandem_sdk::{CommandError, CommandType, ErrorKind, Payload};

use crate::bus::{Bus, CommandProvider, Reply, WeakBus};
use crate::lua::service::{EngineUnavailable, LuaControl, Stats as LuaStats};

pub const STATUS: &str = GetStatus::NAME;
pub const SET_RULE: &str = SetRule::NAME;

/// A started plugin, as the status reports it.
#[derive(Clone)]
pub struct PluginEntry {
    pub id: String,
    pub version: String,
    pub failed: Arc<AtomicBool>,
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
    fn status(&self) -> Status {
        let plugins = self
            .plugins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|p| PluginStatus {
                id: p.id.clone(),
                version: p.version.clone(),
                failed: p.failed.load(Ordering::Relaxed),
            })
            .collect();
        let bus = self.bus.upgrade();
        let commands = bus
            .as_ref()
            .map(|b| b.commands())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, provider)| CommandOwner { name, provider })
            .collect();
        let subscribers = bus
            .map(|b| b.stats())
            .unwrap_or_default()
            .into_iter()
            .map(|s| SubscriberStatus {
                name: s.name,
                delivered: s.delivered,
                dropped: s.dropped,
                failed: s.failed,
            })
            .collect();
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            plugins,
            rules: Vec::new(),
            commands,
            subscribers,
            lua: LuaStatus {
                handled: self.lua_stats.handled.load(Ordering::Relaxed),
                errors: self.lua_stats.errors.load(Ordering::Relaxed),
                reloads: self.lua_stats.reloads.load(Ordering::Relaxed),
            },
        }
    }
}

/// Answers `reply` with a typed result.
fn send<T: Serialize>(reply: Reply, result: Result<T, CommandError>) {
    reply.send(result.and_then(|value| {
        Payload::encode(&value)
            .map(Payload::into_json)
            .map_err(|e| CommandError::internal(format!("cannot encode the answer: {e}")))
    }))
}

type Answer<T> = Box<dyn FnOnce(Result<T, CommandError>) + Send>;

/// Answers `reply` from the Lua engine's thread: `ask` hands the engine the
/// answer callback. If the engine cannot take the request, the caller is
/// told so at once rather than waiting for a timeout.
fn through_engine<T: Serialize + 'static>(
    reply: Reply,
    ask: impl FnOnce(Answer<T>) -> Result<(), EngineUnavailable>,
) {
    let slot = Arc::new(Mutex::new(Some(reply)));
    let take = |slot: &Mutex<Option<Reply>>| slot.lock().ok().and_then(|mut r| r.take());
    let from_engine = slot.clone();
    let asked = ask(Box::new(move |result| {
        if let Some(reply) = take(&from_engine) {
            send(reply, result);
        }
    }));
    if let Err(e) = asked {
        if let Some(reply) = take(&slot) {
            send::<T>(reply, Err(CommandError::internal(e.to_string())));
        }
    }
}

impl CommandProvider for HostCommands {
    fn command(&self, name: &str, args: String, reply: Reply) {
        match name {
            STATUS => {
                // The rule list lives on the engine thread: finish there.
                let mut status = self.status();
                through_engine(reply, |answer| {
                    self.lua.rules(move |rules| {
                        status.rules = rules
                            .into_iter()
                            .map(|r| RuleStatus {
                                name: r.name,
                                path: r.path.to_string_lossy().into_owned(),
                                enabled: r.enabled,
                            })
                            .collect();
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
                    Err(e) => return send::<RuleSwitched>(reply, Err(e)),
                };
                through_engine(reply, |answer| {
                    let rule = name.clone();
                    self.lua.set_enabled(&name, enabled, move |found| {
                        answer(if found {
                            Ok(RuleSwitched {
                                name: rule,
                                enabled,
                            })
                        } else {
                            Err(CommandError::new(
                                ErrorKind::InvalidArguments,
                                format!("no rule named `{rule}` is loaded"),
                            ))
                        })
                    })
                });
            }
            other => reply.send(Err(CommandError::unknown_command(other))),
        }
    }
}
