//! Log output: `tracing`, human-readable or JSON, filtered by `RUST_LOG` or
//! the config's `[log] level`. Plugin lines arrive through the `log` crate
//! with the plugin id as target (tracing-subscriber bridges them).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(level: &str, format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::try_new(level).unwrap_or_else(|e| {
            eprintln!("warning: log level {level:?} is not a valid filter ({e}); using info");
            EnvFilter::new("info")
        }),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
