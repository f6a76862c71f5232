//! Types that cross the boundary.

// `#[sabi_trait]` expands to impls inside a const block (abi_stable 0.11).
#![allow(non_local_definitions)]

use abi_stable::sabi_trait;
use abi_stable::std_types::{RArc, RBox, RResult, RStr, RString};
use abi_stable::StableAbi;

/// One published event. Allocated once by the host and shared (reference
/// counted) by every subscriber, so fan-out costs no copies.
///
/// Topic, source and payload live in one buffer: an event is two
/// allocations (this and its text) rather than four. Publishers and
/// subscribers run on different threads, and every allocation freed on
/// another thread than the one that made it is slow in the system
/// allocator; this halves them.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct EventData {
    /// Host-wide sequence number, for tracing.
    pub id: u64,
    /// `topic`, then `source`, then the payload JSON.
    text: RString,
    topic_len: u32,
    source_len: u32,
}

impl EventData {
    /// Builds an event. A topic or source longer than 4 GiB is cut (no
    /// real one comes near).
    pub fn new(id: u64, topic: &str, source: &str, payload: &str) -> EventData {
        let topic = cut(topic);
        let source = cut(source);
        let mut text = String::with_capacity(topic.len() + source.len() + payload.len());
        text.push_str(topic);
        text.push_str(source);
        text.push_str(payload);
        EventData {
            id,
            text: text.into(),
            topic_len: topic.len() as u32,
            source_len: source.len() as u32,
        }
    }

    /// Dotted topic, e.g. `sip.call.answered`.
    pub fn topic(&self) -> &str {
        &self.text[..self.topic_len as usize]
    }

    /// Who published it: a plugin id, `lua:<script>` or `host`.
    pub fn source(&self) -> &str {
        let start = self.topic_len as usize;
        &self.text[start..start + self.source_len as usize]
    }

    /// The payload as JSON text.
    pub fn payload(&self) -> &str {
        &self.text[(self.topic_len + self.source_len) as usize..]
    }
}

/// At most `u32::MAX` bytes, on a character boundary.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(u32::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An event as it is handed to subscribers.
pub type SharedEvent = RArc<EventData>;

/// A command failure as it crosses the boundary. `kind` is a stable numeric
/// code (see [`crate::ErrorKind`]) so new kinds can be added without an ABI break.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiCommandError {
    pub kind: u32,
    pub message: RString,
}

/// What the host calls on a running plugin. Every implementation in the SDK
/// catches panics: a panic never unwinds across this boundary.
#[sabi_trait]
pub trait FfiPlugin: Send + Sync {
    /// Queues an event for the plugin. Returns `false` when the plugin's
    /// bounded queue is full (the event is dropped and the host counts it) or
    /// the plugin has stopped.
    fn deliver(&self, event: SharedEvent) -> bool;

    /// Runs a command; the plugin answers through `reply`, exactly once.
    fn command(&self, name: RStr<'_>, args: RString, reply: FfiReplyBox);

    /// Stops the plugin and its runtime, waiting at most `timeout_ms`.
    #[sabi(last_prefix_field)]
    fn shutdown(&self, timeout_ms: u64) -> RResult<(), RString>;
}

/// A running plugin as the host holds it.
pub type FfiPluginBox = FfiPlugin_TO<'static, RBox<()>>;

/// What a plugin may call on the host. One object per plugin: the host knows
/// who is calling without being told.
#[sabi_trait]
pub trait FfiHost: Send + Sync {
    /// Publishes an event; returns its id.
    fn publish(&self, topic: RStr<'_>, payload: RString) -> u64;

    /// Calls a command provided by some plugin; the answer comes on `reply`.
    fn call(&self, name: RStr<'_>, args: RString, reply: FfiReplyBox);

    /// Writes a log line to the host's log with the plugin id as target.
    /// `level`: 1 error, 2 warn, 3 info, 4 debug, 5 trace.
    fn log(&self, level: u8, message: RStr<'_>);

    /// Tells the host that the plugin has failed (it panicked) and must no
    /// longer receive events or commands.
    fn failed(&self, reason: RStr<'_>);

    /// The most verbose level the host's log keeps for this plugin (0 off,
    /// 1 error ... 5 trace), so the plugin's libraries can skip formatting
    /// what would be dropped and still send what `RUST_LOG=sip=debug` asks
    /// for. Since SDK 0.3.
    #[sabi(last_prefix_field)]
    fn log_level(&self) -> u8;
}

/// The host API as a plugin holds it.
pub type FfiHostBox = FfiHost_TO<'static, RBox<()>>;

/// The one-shot answer channel of a command.
#[sabi_trait]
pub trait FfiReply: Send {
    /// Delivers the answer: JSON text, or an error. Later calls are ignored.
    #[sabi(last_prefix_field)]
    fn send(&mut self, result: RResult<RString, FfiCommandError>);
}

/// A reply channel as it crosses the boundary.
pub type FfiReplyBox = FfiReply_TO<'static, RBox<()>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_buffer_gives_back_each_part() {
        let e = EventData::new(7, "sip.call.answered", "sip", r#"{"call":"ç1"}"#);
        assert_eq!(
            (e.id, e.topic(), e.source(), e.payload()),
            (7, "sip.call.answered", "sip", r#"{"call":"ç1"}"#)
        );
        let empty = EventData::new(0, "", "", "");
        assert_eq!(
            (empty.topic(), empty.source(), empty.payload()),
            ("", "", "")
        );
    }
}
