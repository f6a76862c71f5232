//! Configuration: one TOML file plus `TANDEM_*` environment overrides.
//!
//! ```toml
//! [host]      plugin folders, script folders, timeouts
//! [log]       level and format
//! [lua]       sandbox limits
//! [plugins.<section>]   handed to the plugin (it validates its own keys)
//! [scripts.<name>]      `tandem.config` of script `<name>.lua`
//! ```
//!
//! Environment: `TANDEM_LOG__LEVEL=debug` overrides `[log] level`
//! (`__` separates levels). Secrets: see [`secrets`].

mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_sdk::{Payload, PayloadError};

pub use secrets::SecretError;

/// Why a configuration could not be used. Each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration: {message}")]
    Read { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    #[error("{file}: {source}")]
    Secret {
        file: PathBuf,
        #[source]
        source: SecretError,
    },
}

/// `[host]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostSection {
    /// Extra plugin folders (relative to the config file).
    pub plugin_dirs: Vec<PathBuf>,
    /// Also search next to the binary and in `$XDG_DATA_HOME/tandem/plugins`.
    pub default_plugin_dirs: bool,
    /// Folders of Lua rules (relative to the config file).
    pub script_dirs: Vec<PathBuf>,
    /// How long a Lua `tandem.call` waits for an answer.
    pub command_timeout_ms: u64,
    /// How long each plugin gets to stop.
    pub shutdown_timeout_ms: u64,
    /// The `tandem ctl` socket (relative to the config file); default
    /// `$XDG_RUNTIME_DIR/tandem/control.sock`, else `/tmp/tandem-<uid>/`.
    pub control_socket: Option<PathBuf>,
}

impl Default for HostSection {
    fn default() -> Self {
        HostSection {
            plugin_dirs: Vec::new(),
            default_plugin_dirs: true,
            script_dirs: vec![PathBuf::from("scripts")],
            command_timeout_ms: 5_000,
            shutdown_timeout_ms: 3_000,
            control_socket: None,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing` filter (`info`, `debug`, `tandem=debug,sip=trace`);
    /// `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// `[lua]`: the sandbox limits of every script.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LuaSection {
    /// VM instructions one handler may run before it is stopped (counted
    /// per resumption, so time spent waiting for a command does not count).
    pub instruction_budget: u64,
    /// Memory one script's Lua state may hold.
    pub memory_limit_mb: u64,
    /// Wall-clock time one handler may run before it is stopped (per
    /// resumption, as the budget); 0: no limit. The budget counts
    /// instructions, and one instruction on a large string can take
    /// milliseconds.
    pub time_limit_ms: u64,
    /// Reload a script when its file changes.
    pub reload: bool,
}

impl Default for LuaSection {
    fn default() -> Self {
        LuaSection {
            instruction_budget: 10_000_000,
            memory_limit_mb: 32,
            time_limit_ms: 1000,
            reload: true,
        }
    }
}

/// The whole configuration, validated, with paths made absolute and
/// secrets resolved.
#[derive(Clone, Default)]
pub struct Config {
    /// The file it came from (None: built-in defaults).
    pub file: Option<PathBuf>,
    pub host: HostSection,
    pub log: LogSection,
    pub lua: LuaSection,
    /// `[plugins.<section>]` tables, `enabled` removed.
    pub plugins: BTreeMap<String, Map<String, Value>>,
    /// Plugin sections with `enabled = false`.
    pub disabled_plugins: Vec<String>,
    /// `[scripts.<name>]` tables.
    pub scripts: BTreeMap<String, Map<String, Value>>,
}

impl std::fmt::Debug for Config {
    /// Plugin and script sections may hold secrets: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("host", &self.host)
            .field("log", &self.log)
            .field("lua", &self.lua)
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .field("scripts", &self.scripts.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    host: HostSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    lua: LuaSection,
    #[serde(default)]
    plugins: BTreeMap<String, Map<String, Value>>,
    #[serde(default)]
    scripts: BTreeMap<String, Map<String, Value>>,
}

impl Config {
    /// Loads `file` with `TANDEM_*` environment overrides.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Loads `file` with the given environment (tests pass their own).
    pub fn load_with_env(
        file: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let read_error = |message: String| ConfigError::Read {
            file: file.to_owned(),
            message,
        };
        if !file.is_file() {
            return Err(read_error("no such file".to_owned()));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("TANDEM_") && k.contains("__"))
            .collect();
        let overridden: Vec<String> = env.keys().cloned().collect();
        // Overrides are parsed (`TANDEM_LUA__MEMORY_LIMIT_MB=7` is a number),
        // except secrets: a password of digits stays the text it is.
        let mut builder = config::Config::builder();
        for (var, value) in &env {
            let key = var["TANDEM_".len()..].to_lowercase().replace("__", ".");
            if secrets::is_secret_key(&key) {
                builder = builder
                    .set_override(key, value.clone())
                    .map_err(|e| read_error(without_values(&e.to_string())))?;
            }
        }
        let tree = builder
            .add_source(config::File::from(file).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("TANDEM")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()
            .map_err(|e| read_error(without_values(&e.to_string())))?;
        let value: Value = tree
            .try_deserialize()
            .map_err(|e| read_error(without_values(&e.to_string())))?;
        // `tandem.toml` alone has the parent "", which is no folder.
        let base = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Self::from_value(value, Some(file), base).map_err(|e| match e {
            // A key set in the environment is not in the file: say where.
            ConfigError::Invalid { file, key, message } => {
                let var = format!("TANDEM_{}", key.to_uppercase().replace('.', "__"));
                match overridden.contains(&var) {
                    true => ConfigError::Invalid {
                        file,
                        key,
                        message: format!("{message} (set by {var})"),
                    },
                    false => ConfigError::Invalid { file, key, message },
                }
            }
            other => other,
        })
    }

    /// The built-in defaults (no file): scripts from `./scripts`.
    pub fn defaults() -> Config {
        let mut config = Self::from_value(Value::Object(Map::new()), None, Path::new("."))
            .expect("the defaults are valid");
        config.file = None;
        config
    }

    fn from_value(value: Value, file: Option<&Path>, base: &Path) -> Result<Config, ConfigError> {
        let file_name = file
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("<defaults>"));
        // The SDK's payload decoder names the key path, as for plugin sections.
        let raw: RawConfig = Payload::from(value).decode().map_err(|e| match e {
            PayloadError::Decode { path, message, .. } => ConfigError::Invalid {
                file: file_name.clone(),
                key: path,
                message: without_values(&message),
            },
            other => ConfigError::Invalid {
                file: file_name.clone(),
                key: ".".to_owned(),
                message: without_values(&other.to_string()),
            },
        })?;
        if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
            return Err(ConfigError::Invalid {
                file: file_name,
                key: "log.level".to_owned(),
                message: "not a level or filter (error, warn, info, debug, trace, or \
                          per target: info,sip=debug)"
                    .to_owned(),
            });
        }
        let mut host = raw.host;
        host.plugin_dirs = host.plugin_dirs.iter().map(|p| base.join(p)).collect();
        host.script_dirs = host.script_dirs.iter().map(|p| base.join(p)).collect();
        host.control_socket = host.control_socket.map(|p| base.join(p));

        let mut plugins = BTreeMap::new();
        let mut disabled_plugins = Vec::new();
        for (section, mut table) in raw.plugins {
            if !take_enabled(&mut table, &file_name, &format!("plugins.{section}"))? {
                disabled_plugins.push(section.clone());
            }
            secrets::resolve(&mut table, &format!("plugins.{section}"), base).map_err(
                |source| ConfigError::Secret {
                    file: file_name.clone(),
                    source,
                },
            )?;
            plugins.insert(section, table);
        }
        let mut scripts = BTreeMap::new();
        for (name, mut table) in raw.scripts {
            secrets::resolve(&mut table, &format!("scripts.{name}"), base).map_err(|source| {
                ConfigError::Secret {
                    file: file_name.clone(),
                    source,
                }
            })?;
            if let Some(v) = table.get("enabled") {
                if !v.is_boolean() {
                    return Err(ConfigError::Invalid {
                        file: file_name,
                        key: format!("scripts.{name}.enabled"),
                        message: format!("expected true or false, found {}", kind_of(v)),
                    });
                }
            }
            scripts.insert(name, table);
        }
        Ok(Config {
            file: file.map(Path::to_owned),
            host,
            log: raw.log,
            lua: raw.lua,
            plugins,
            disabled_plugins,
            scripts,
        })
    }

    /// The config section of a plugin as JSON (an empty table when absent).
    pub fn plugin_section(&self, section: &str) -> String {
        self.plugins
            .get(section)
            .map(|t| Value::Object(t.clone()).to_string())
            .unwrap_or_else(|| "{}".to_owned())
    }

    /// `tandem.config` of script `name`: its `[scripts.<name>]` table
    /// without the host key `enabled` (an empty table when absent).
    pub fn script_section(&self, name: &str) -> Map<String, Value> {
        let mut section = self.scripts.get(name).cloned().unwrap_or_default();
        section.remove("enabled");
        section
    }

    /// `[scripts.<name>] enabled`, if the config says; otherwise the rule's
    /// own default applies (see `Engine::load`).
    pub fn script_enabled(&self, name: &str) -> Option<bool> {
        self.scripts
            .get(name)
            .and_then(|t| t.get("enabled"))
            .and_then(Value::as_bool)
    }
}

/// Removes and checks `enabled` (a host key, not the plugin's).
fn take_enabled(
    table: &mut Map<String, Value>,
    file: &Path,
    section: &str,
) -> Result<bool, ConfigError> {
    match table.remove("enabled") {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(b),
        Some(other) => Err(ConfigError::Invalid {
            file: file.to_owned(),
            key: format!("{section}.enabled"),
            message: format!("expected true or false, found {}", kind_of(&other)),
        }),
    }
}

/// What kind of value `value` is, for an error that must not show the
/// value itself: `enabled_file = "token.txt"` in a script section makes
/// the file's content the value of `enabled`.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// A configuration error as it may be shown: no value serde quoted, and
/// none of the lines of the file the TOML parser quotes (`3 | password =
/// hunter2`), since either may be a secret. The key, line and column stay.
fn without_values(message: &str) -> String {
    let kept: Vec<&str> = message
        .lines()
        .filter(|line| {
            let quoted = line
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit());
            !quoted.trim_start().starts_with('|')
        })
        .collect();
    tandem_sdk::hide_values(&kept.join("\n"))
}

#[cfg(test)]
mod tests;
