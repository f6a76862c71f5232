//! The handle a plugin uses to talk to the host.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::{CommandError, CommandType, ErrorKind, EventType, Payload};

/// How long [`Host::call`] waits for an answer unless told otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits for the answer to command `name`, turning a dropped reply channel
/// and a timeout into their typed errors. Shared by plugins ([`Host`]) and
/// the host's own callers, so both report the same way.
#[doc(hidden)]
pub async fn await_reply(
    name: &str,
    timeout: Duration,
    reply: oneshot::Receiver<Result<String, CommandError>>,
) -> Result<String, CommandError> {
    match tokio::time::timeout(timeout, reply).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(CommandError::new(
            ErrorKind::PluginFailed,
            format!("{name}: the provider dropped the request without answering"),
        )),
        Err(_) => Err(CommandError::new(
            ErrorKind::Timeout,
            format!("{name}: no answer within {} ms", timeout.as_millis()),
        )),
    }
}

/// Log levels, as the host's `tracing` has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub(crate) fn from_u8(level: u8) -> Level {
        match level {
            0 | 1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            _ => Level::Trace,
        }
    }
}

/// A one-shot answer to a command call.
pub(crate) type ReplyFn = Box<dyn FnOnce(Result<String, CommandError>) + Send>;

/// What a [`Host`] is backed by: the real host through the ABI, or the
/// mock host of [`crate::testing`].
pub(crate) trait HostBackend: Send + Sync {
    fn publish(&self, topic: &str, payload: String) -> u64;
    fn call(&self, name: &str, args: String, reply: ReplyFn);
    fn log(&self, level: Level, message: &str);
    fn failed(&self, reason: &str);
    /// The most verbose level the host keeps for this plugin; `None` when
    /// it keeps nothing.
    fn log_level(&self) -> Option<Level>;
}

/// The host, as a plugin sees it. Cheap to clone; safe to use from any task.
#[derive(Clone)]
pub struct Host {
    backend: Arc<dyn HostBackend>,
}

impl Host {
    pub(crate) fn new(backend: Arc<dyn HostBackend>) -> Self {
        Host { backend }
    }

    /// Publishes a built-in event.
    pub fn publish<E: EventType>(&self, event: &E) -> u64 {
        match Payload::encode(event) {
            Ok(payload) => self.publish_raw(E::TOPIC, payload),
            Err(e) => {
                self.log(Level::Error, &format!("cannot publish {}: {e}", E::TOPIC));
                0
            }
        }
    }

    /// Publishes an event under any topic.
    pub fn publish_raw(&self, topic: &str, payload: Payload) -> u64 {
        self.backend.publish(topic, payload.into_json())
    }

    /// Calls a built-in command and waits (at most [`DEFAULT_CALL_TIMEOUT`])
    /// for its typed answer.
    pub async fn call<C: CommandType>(&self, command: &C) -> Result<C::Reply, CommandError> {
        let args = Payload::encode(command)?;
        let reply = self.call_raw(C::NAME, args, DEFAULT_CALL_TIMEOUT).await?;
        reply
            .decode()
            .map_err(|e| CommandError::internal(format!("answer of {} does not fit: {e}", C::NAME)))
    }

    /// Calls any command with JSON arguments.
    pub async fn call_raw(
        &self,
        name: &str,
        args: Payload,
        timeout: Duration,
    ) -> Result<Payload, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.backend.call(
            name,
            args.into_json(),
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        await_reply(name, timeout, rx)
            .await
            .map(Payload::from_trusted)
    }

    /// Writes to the host's log, with this plugin's id as the target.
    pub fn log(&self, level: Level, message: &str) {
        self.backend.log(level, message);
    }

    pub fn error(&self, message: &str) {
        self.log(Level::Error, message)
    }
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message)
    }
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message)
    }

    pub(crate) fn failed(&self, reason: &str) {
        self.backend.failed(reason)
    }
}
