//! The one-shot answer channel of a command, in the host's own terms.
//!
//! Providers (plugins, rules, the host's own commands) answer through a
//! [`Reply`]; only `host/src/plugins` turns it into the ABI's reply box and
//! back, so nothing else in the host names an FFI type. A reply that came in
//! through the ABI and goes straight out to another plugin is handed over
//! as it came (see [`Reply::take`]): plugin-to-plugin calls are wrapped
//! once, not once per side.

use std::any::{Any, TypeId};
use std::panic::{catch_unwind, AssertUnwindSafe};

use tandem_sdk::{CommandError, ErrorKind};

/// What a command answers: its JSON text, or why it failed.
pub type Answer = Result<String, CommandError>;

/// A reply channel of some other kind (the ABI's, in `host/src/plugins`).
pub trait Channel: Send + 'static {
    /// Delivers the answer.
    fn send(self, answer: Answer);
}

/// A closure as a [`Channel`].
struct FnChannel<F>(F);

impl<F: FnOnce(Answer) + Send + 'static> Channel for FnChannel<F> {
    fn send(self, answer: Answer) {
        (self.0)(answer)
    }
}

/// Object-safe face of [`Channel`].
trait Target: Send {
    fn send(self: Box<Self>, answer: Answer);
    fn channel_type(&self) -> TypeId;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<C: Channel> Target for C {
    fn send(self: Box<Self>, answer: Answer) {
        (*self).send(answer)
    }
    fn channel_type(&self) -> TypeId {
        TypeId::of::<C>()
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// Answers a command exactly once. Dropped unanswered, it tells the caller
/// so (`plugin_failed`) rather than leaving it to time out.
pub struct Reply(Option<Box<dyn Target>>);

impl Reply {
    /// A reply delivered to `f`.
    pub fn from_fn(f: impl FnOnce(Answer) + Send + 'static) -> Reply {
        Reply::from_channel(FnChannel(f))
    }

    /// A reply delivered through `channel`.
    pub fn from_channel(channel: impl Channel) -> Reply {
        Reply(Some(Box::new(channel)))
    }

    /// Delivers the answer. A panicking receiver is contained here: the
    /// provider that answers is not to blame.
    pub fn send(mut self, answer: Answer) {
        if let Some(target) = self.0.take() {
            let _ = catch_unwind(AssertUnwindSafe(|| target.send(answer)));
        }
    }

    /// The channel this reply was made from, if it is a `C`; else the reply
    /// back. Lets a channel pass through the bus unwrapped.
    pub fn take<C: Channel>(mut self) -> Result<C, Reply> {
        match self.0.take() {
            Some(target) if target.channel_type() == TypeId::of::<C>() => {
                match target.into_any().downcast::<C>() {
                    Ok(channel) => Ok(*channel),
                    Err(_) => unreachable!("the type was checked"),
                }
            }
            target => {
                self.0 = target;
                Err(self)
            }
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(target) = self.0.take() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                target.send(Err(CommandError::new(
                    ErrorKind::PluginFailed,
                    "the provider dropped the request without answering",
                )))
            }));
        }
    }
}
