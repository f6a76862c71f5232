//! Commands the host itself answers (not a plugin): what `tandem ctl`,
//! rules and plugins ask of the running daemon.

use serde::{Deserialize, Serialize};

use crate::CommandType;

/// Plugins, rules, commands and event counters of the running host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetStatus {}
impl CommandType for GetStatus {
    const NAME: &'static str = "host.status";
    type Reply = Status;
}

/// What `host.status` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The host's version.
    pub version: String,
    /// Seconds since the host started.
    pub uptime_s: f64,
    pub plugins: Vec<PluginStatus>,
    pub rules: Vec<RuleStatus>,
    /// Every command on the bus and who provides it, by name.
    pub commands: Vec<CommandProvider>,
    /// Events delivered to and dropped for each subscriber.
    pub subscribers: Vec<SubscriberStatus>,
    pub lua: LuaStatus,
}

/// One started plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginStatus {
    pub id: String,
    pub version: String,
    /// It panicked and gets no more events or commands.
    pub failed: bool,
}

/// One loaded rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleStatus {
    pub name: String,
    /// The script's file.
    pub path: String,
    pub enabled: bool,
}

/// A command and its provider (a plugin id, `lua:<script>` or `host`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandProvider {
    pub name: String,
    pub provider: String,
}

/// One subscriber's event counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriberStatus {
    pub name: String,
    pub delivered: u64,
    /// Dropped because its queue was full.
    pub dropped: u64,
    pub failed: bool,
}

/// The Lua engine's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LuaStatus {
    /// Events handed to rules.
    pub handled: u64,
    /// Rule handlers that raised an error.
    pub errors: u64,
    /// Rule files reloaded.
    pub reloads: u64,
}

/// Switches a rule on or off; answers the rule and its new state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRule {
    /// The rule's name (its file name without `.lua`).
    pub name: String,
    pub enabled: bool,
}
impl CommandType for SetRule {
    const NAME: &'static str = "host.set_rule";
    type Reply = RuleSwitched;
}

/// What `host.set_rule` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleSwitched {
    pub name: String,
    pub enabled: bool,
}
