//! Libraries inside a plugin (tokio-xmpp, rsipstack, ...) log through the
//! `log` crate (or `tracing`, which falls back to `log` when no subscriber
//! is set, as in a plugin). A cdylib has its own copy of `log`'s global
//! logger, which nobody sets, so their lines would vanish. The first plugin
//! start in a library installs this bridge: records go to the host's log,
//! with the plugin id as target and the library's module path in the
//! message, down to the level the host keeps for that plugin (so
//! `RUST_LOG=sip=debug` reaches into the plugin and nothing finer is even
//! formatted).

use std::sync::{Arc, OnceLock};

use crate::host::{HostBackend, Level};

struct Bridge {
    host: Arc<dyn HostBackend>,
    max: log::LevelFilter,
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.max
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        self.host
            .log(level, &format!("[{}] {}", record.target(), record.args()));
    }

    fn flush(&self) {}
}

fn filter_of(level: Option<Level>) -> log::LevelFilter {
    match level {
        None => log::LevelFilter::Off,
        Some(Level::Error) => log::LevelFilter::Error,
        Some(Level::Warn) => log::LevelFilter::Warn,
        Some(Level::Info) => log::LevelFilter::Info,
        Some(Level::Debug) => log::LevelFilter::Debug,
        Some(Level::Trace) => log::LevelFilter::Trace,
    }
}

/// Installs the bridge once per library; later starts keep the first.
pub(crate) fn install(host: Arc<dyn HostBackend>) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let max = filter_of(host.log_level());
        if log::set_boxed_logger(Box::new(Bridge { host, max })).is_ok() {
            log::set_max_level(max);
        }
    });
}
