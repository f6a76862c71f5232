//! Libraries inside a plugin (tokio-xmpp, rsipstack, ...) log through the
//! `log` crate. A cdylib has its own copy of `log`'s global logger, which
//! nobody sets, so their lines would vanish. The first plugin start in a
//! library installs this bridge: records at info level and above go to the
//! host's log, with the plugin id as target and the library's module path in
//! the message.

use std::sync::{Arc, OnceLock};

use crate::host::{HostBackend, Level};

struct Bridge(Arc<dyn HostBackend>);

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
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
        self.0
            .log(level, &format!("[{}] {}", record.target(), record.args()));
    }

    fn flush(&self) {}
}

/// Installs the bridge once per library; later starts keep the first.
pub(crate) fn install(host: Arc<dyn HostBackend>) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if log::set_boxed_logger(Box::new(Bridge(host))).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
}
