//! The running host: plugins started, Lua engine fed, until asked to stop.

pub mod host_commands;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bus::Bus;
use crate::config::Config;
use crate::lua::service::LuaService;
use crate::plugins::{self, RunningPlugin};
use host_commands::{HostCommands, PluginEntry};

/// Everything `tandem run` holds while running.
pub struct Daemon {
    pub bus: Bus,
    plugins: Vec<RunningPlugin>,
    lua: Option<LuaService>,
    shutdown_timeout: Duration,
}

/// What starting found, for the log and for tests.
#[derive(Debug, Default)]
pub struct StartReport {
    /// (id, file) of each started plugin, in start order.
    pub plugins: Vec<(String, PathBuf)>,
    /// One line per plugin file that did not load or start.
    pub plugin_failures: Vec<String>,
    pub scripts: Vec<String>,
    /// One line per script that did not load (with file:line).
    pub script_failures: Vec<String>,
    pub elapsed: Duration,
}

/// The plugin folders for `config`: its own, then the defaults.
pub fn plugin_dirs(config: &Config) -> Vec<PathBuf> {
    let mut dirs = config.host.plugin_dirs.clone();
    if config.host.default_plugin_dirs {
        dirs.extend(plugins::default_dirs());
    }
    dirs
}

impl Daemon {
    /// Starts the Lua engine (so no early event is missed), then every
    /// plugin found, each with its config section. Failures are reported,
    /// never fatal: the rest keeps going. Publishes `host.ready` at the end.
    pub fn start(config: &Config) -> std::io::Result<(Daemon, StartReport)> {
        let started = Instant::now();
        let bus = Bus::new();
        let mut report = StartReport::default();

        let lua = LuaService::start(&bus, config)?;
        let host_commands =
            HostCommands::register(&bus, lua.service.control(), lua.service.stats.clone());
        report.scripts = lua.loaded.iter().map(|(name, _)| name.clone()).collect();
        report.script_failures = lua.failed.iter().map(|e| e.to_string()).collect();

        let discovery = plugins::discover(&plugin_dirs(config));
        for failure in &discovery.failed {
            report.plugin_failures.push(failure.error.to_string());
        }
        let mut running = Vec::new();
        for library in &discovery.loaded {
            let section = &library.manifest.config_section;
            if config.disabled_plugins.contains(section) {
                tracing::info!(plugin = %library.manifest.id, "disabled in the config: not started");
                continue;
            }
            match library.start(&bus, &config.plugin_section(section)) {
                Ok(plugin) => {
                    host_commands.add_plugin(PluginEntry {
                        id: plugin.id.clone(),
                        version: library.manifest.version.clone(),
                        failed: plugin.failed_flag(),
                    });
                    report
                        .plugins
                        .push((plugin.id.clone(), library.path.clone()));
                    running.push(plugin);
                }
                Err(e) => report.plugin_failures.push(e.to_string()),
            }
        }
        report.elapsed = started.elapsed();
        bus.publish(
            "host",
            "host.ready",
            serde_json::json!({
                "plugins": report.plugins.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                "scripts": report.scripts,
            })
            .to_string(),
        );
        Ok((
            Daemon {
                bus,
                plugins: running,
                lua: Some(lua.service),
                shutdown_timeout: Duration::from_millis(config.host.shutdown_timeout_ms),
            },
            report,
        ))
    }

    /// The started plugins.
    pub fn plugins(&self) -> &[RunningPlugin] {
        &self.plugins
    }

    /// The Lua engine's counters.
    pub fn lua_stats(&self) -> Option<std::sync::Arc<crate::lua::service::Stats>> {
        self.lua.as_ref().map(|l| l.stats.clone())
    }

    /// Stops the Lua engine first (no new commands), then the plugins in
    /// reverse start order, each within the shutdown timeout.
    pub fn shutdown(mut self) {
        if let Some(lua) = self.lua.take() {
            lua.stop();
        }
        while let Some(plugin) = self.plugins.pop() {
            match plugin.stop(self.shutdown_timeout) {
                Ok(()) => tracing::info!(plugin = %plugin.id, "stopped"),
                Err(e) => tracing::warn!(plugin = %plugin.id, "did not stop cleanly: {e}"),
            }
        }
    }
}
