//! The host API object each plugin receives.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RStr, RString};
use tandem_sdk::abi::{FfiHost, FfiHostBox, FfiHost_TO, FfiReplyBox};
use tandem_sdk::{CommandError, ErrorKind, Level};

use crate::bus::{Answer, Bus, Channel, WeakBus};

/// A reply box that came in through the ABI, as the bus's reply channel.
/// When the call goes on to another plugin, `PluginProvider` takes the box
/// back out and hands it over as it came.
pub(super) struct FfiChannel(pub(super) FfiReplyBox);

impl Channel for FfiChannel {
    fn send(mut self, answer: Answer) {
        self.0.send(match answer {
            Ok(json) => ROk(json.into()),
            Err(e) => RErr(e.into()),
        })
    }
}

/// Builds the host API for plugin `id`. It holds the bus weakly: the bus
/// owns the plugin, the plugin owns this.
pub fn for_plugin(id: &str, bus: &Bus, failed: Arc<AtomicBool>) -> FfiHostBox {
    FfiHost_TO::from_value(
        PluginHostApi {
            id: id.to_owned(),
            bus: bus.downgrade(),
            failed,
        },
        TD_Opaque,
    )
}

struct PluginHostApi {
    id: String,
    bus: WeakBus,
    failed: Arc<AtomicBool>,
}

impl FfiHost for PluginHostApi {
    fn publish(&self, topic: RStr<'_>, payload: RString) -> u64 {
        match self.bus.upgrade() {
            // Copied into the event's one buffer; the `RString` is freed
            // here, on this thread, where it is cheap.
            Some(bus) => bus.publish_str(&self.id, topic.as_str(), payload.as_str()),
            None => 0,
        }
    }

    fn call(&self, name: RStr<'_>, args: RString, mut reply: FfiReplyBox) {
        match self.bus.upgrade() {
            Some(bus) => bus.route(
                name.as_str(),
                args.into_string(),
                crate::bus::Reply::from_channel(FfiChannel(reply)),
            ),
            None => reply.send(RErr(
                CommandError::new(ErrorKind::PluginFailed, "the host is shutting down").into(),
            )),
        }
    }

    fn log(&self, level: u8, message: RStr<'_>) {
        let level = match tandem_sdk::abi::level_from_u8(level) {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
            Level::Trace => log::Level::Trace,
        };
        // Through `log`, whose records carry a run-time target: the plugin id
        // becomes the target of the line in the host's `tracing` output.
        log::logger().log(
            &log::Record::builder()
                .target(&self.id)
                .level(level)
                .args(format_args!("{}", one_line(message.as_str())))
                .build(),
        );
    }

    fn failed(&self, reason: RStr<'_>) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            tracing::error!(plugin = %self.id, "plugin failed and is cut off: {}", reason.as_str());
        }
    }

    fn log_level(&self) -> u8 {
        // Asked of the same logger `log` writes to (tracing's, through
        // tracing-log), with the same target, so the answer is the filter
        // that would apply to the plugin's lines.
        let logger = log::logger();
        [
            log::Level::Trace,
            log::Level::Debug,
            log::Level::Info,
            log::Level::Warn,
            log::Level::Error,
        ]
        .into_iter()
        .find(|&level| {
            level <= log::max_level()
                && logger.enabled(
                    &log::Metadata::builder()
                        .target(&self.id)
                        .level(level)
                        .build(),
                )
        })
        .map_or(0, |level| level as u8)
    }
}

/// A plugin's log message on one line: line breaks and other control
/// characters escaped. Plugins log text from the network (a contact's
/// URI, a SIP header), and in the text log a raw line break would let a
/// stranger write a line that looks like the host's own.
fn one_line(message: &str) -> Cow<'_, str> {
    if !message.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(message);
    }
    let mut line = String::with_capacity(message.len() + 8);
    for c in message.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push('\t'),
            c if c.is_control() => line.extend(c.escape_default()),
            c => line.push(c),
        }
    }
    Cow::Owned(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_log_message_stays_on_its_line() {
        let forged = "reach of bob: sip:x\n2026-11-24T05:00:00Z  INFO tandem: all fine\r\x1b[2J";
        let line = one_line(forged);
        assert!(!line.contains(['\n', '\r', '\x1b']), "{line}");
        assert!(line.contains("sip:x\\n2026"), "{line}");
        assert!(matches!(one_line("plain\ttext"), Cow::Borrowed(_)));
    }
}
