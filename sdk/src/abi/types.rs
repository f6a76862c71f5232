//! Types that cross the boundary.

// `#[sabi_trait]` expands to impls inside a const block (abi_stable 0.11).
#![allow(non_local_definitions)]

use abi_stable::sabi_trait;
use abi_stable::std_types::{RArc, RBox, RResult, RStr, RString};
use abi_stable::StableAbi;

/// One published event. Allocated once by the host and shared (reference
/// counted) by every subscriber, so fan-out costs no copies.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct EventData {
    /// Host-wide sequence number, for tracing.
    pub id: u64,
    /// Dotted topic, e.g. `sip.call.answered`.
    pub topic: RString,
    /// Who published it: a plugin id, `lua:<script>` or `host`.
    pub source: RString,
    /// The payload as JSON text.
    pub payload: RString,
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
    #[sabi(last_prefix_field)]
    fn failed(&self, reason: RStr<'_>);
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
