//! `tandem check`: validate the config, every plugin section and every
//! script without starting anything. Values are never printed (secrets).

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde_json::Value;
use tandem_sdk::CommandError;

use crate::config::Config;
use crate::lua::watch::script_files;
use crate::lua::{Backend, Engine, Limits, LogLevel};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    /// Not an error: something configured that will be left out here.
    Note(String),
    Error(String),
}

/// All findings, in order.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| matches!(f, Finding::Error(_)))
            .count()
    }
    fn ok(&mut self, text: String) {
        self.findings.push(Finding::Ok(text));
    }
    fn note(&mut self, text: String) {
        self.findings.push(Finding::Note(text));
    }
    fn error(&mut self, text: String) {
        self.findings.push(Finding::Error(text));
    }
}

/// Top-level code runs with commands answered `{}`; nothing is executed.
struct DryRun {
    errors: Cell<usize>,
}

impl Backend for DryRun {
    fn call(
        &self,
        _name: &str,
        _args: Value,
    ) -> LocalBoxFuture<'static, Result<Value, CommandError>> {
        futures_util::future::ready(Ok(Value::Object(Default::default()))).boxed_local()
    }
    fn emit(&self, _source: &str, _topic: &str, _payload: Value) {}
    fn log(&self, _script: &str, _level: LogLevel, _message: &str) {}
    fn script_error(&self, _script: &str, _message: &str) {
        self.errors.set(self.errors.get() + 1);
    }
}

/// Checks `config_file`.
pub fn check(config_file: &Path) -> Report {
    let mut report = Report::default();
    let config = match Config::load(config_file) {
        Ok(config) => {
            report.ok(format!("config {}", config_file.display()));
            config
        }
        Err(e) => {
            report.error(e.to_string());
            return report;
        }
    };
    let file = config_file.display();

    // Folders the config names must be there: a typo would otherwise look
    // like "no plugins" or "no scripts".
    let named = [
        ("host.plugin_dirs", &config.host.plugin_dirs),
        ("host.script_dirs", &config.host.script_dirs),
    ];
    for (key, dirs) in named {
        for dir in dirs
            .iter()
            .filter(|d| !d.is_dir() && !is_default_script_dir(d))
        {
            report.error(format!("{file}: key `{key}`: no folder {}", dir.display()));
        }
    }

    // Plugins: each loads, and accepts its section.
    let discovery = crate::plugins::discover(&crate::daemon::plugin_dirs(&config));
    for failure in &discovery.failed {
        report.error(failure.error.to_string());
    }
    let mut sections = Vec::new();
    for library in &discovery.loaded {
        let m = &library.manifest;
        sections.push(m.config_section.clone());
        if config.disabled_plugins.contains(&m.config_section) {
            report.ok(format!("plugin {} {} (disabled)", m.id, m.version));
            continue;
        }
        let section = config.plugin_section(&m.config_section);
        match library.check_config(&section) {
            Ok(()) => {
                report.ok(format!(
                    "plugin {} {} [plugins.{}]",
                    m.id, m.version, m.config_section
                ));
                for note in library.check_notes(&section) {
                    report.note(format!("[plugins.{}]: {note}", m.config_section));
                }
            }
            Err(e) => report.error(format!("{file}: [plugins.{}]: {e}", m.config_section)),
        }
    }
    for section in config.plugins.keys().chain(config.disabled_plugins.iter()) {
        if !sections.contains(section) {
            report.error(format!(
                "{file}: [plugins.{section}]: no plugin found uses this section (found: {})",
                list_or_none(&sections)
            ));
        }
    }

    // Scripts: compile and run the top level in a dry run.
    let files = script_files(&config.host.script_dirs);
    if files.is_empty() {
        report.ok(format!(
            "no scripts in {}",
            config
                .host
                .script_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let names: Vec<String> = files.iter().map(|f| crate::lua::script_name(f)).collect();
    match check_scripts(&config, &files) {
        Ok(findings) => report.findings.extend(findings),
        Err(e) => report.error(format!("cannot run the Lua checks: {e}")),
    }
    for section in config.scripts.keys() {
        if !names.contains(section) {
            report.error(format!(
                "{file}: [scripts.{section}]: no script {section}.lua in the script folders (found: {})",
                list_or_none(&names)
            ));
        }
    }
    report
}

/// `scripts` is the default script folder; without it there are simply no
/// rules.
fn is_default_script_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "scripts")
}

fn check_scripts(config: &Config, files: &[std::path::PathBuf]) -> std::io::Result<Vec<Finding>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&runtime, async {
        let backend = Rc::new(DryRun {
            errors: Cell::new(0),
        });
        let engine = Engine::new(backend.clone(), Limits::from(&config.lua));
        let mut findings = Vec::new();
        for path in files {
            let name = crate::lua::script_name(path);
            let section = config.script_section(&name);
            let before = backend.errors.get();
            match engine.load(path, section, Some(true)) {
                Ok(_) if backend.errors.get() == before => {
                    findings.push(Finding::Ok(format!("script {}", path.display())))
                }
                Ok(_) => findings.push(Finding::Error(format!(
                    "{}: the top level failed",
                    path.display()
                ))),
                Err(e) => findings.push(Finding::Error(e.to_string())),
            }
        }
        findings
    }))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
