//! The bus: events fan out to subscribers, commands go to their one provider.
//!
//! Publishing is synchronous and cheap: the event is allocated once and each
//! matching subscriber gets a reference-counted handle pushed onto its own
//! bounded queue (owned by the subscriber: a plugin's SDK runtime or the Lua
//! engine). Order is therefore the publish order for every subscriber. A full
//! queue drops the event for that subscriber only; drops are counted per
//! subscriber and logged at powers of two so a flood cannot flood the log.

mod call;
mod reply;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

// Events are the ABI's shared buffer on purpose: allocated once, handed to
// every subscriber (plugin or not) without a copy (decision 0002).
use tandem_sdk::abi::{EventData, SharedEvent};
use tandem_sdk::util::worth_logging;
use tandem_sdk::{topic_matches, CommandError, ErrorKind};

pub use call::call;
pub use reply::{Answer, Channel, Reply};

/// Where events for one subscriber go.
pub trait EventSink: Send + Sync {
    /// Queues the event; `false` when the queue is full or closed.
    fn deliver(&self, event: SharedEvent) -> bool;
}

/// Who answers a command.
pub trait CommandProvider: Send + Sync {
    fn command(&self, name: &str, args: String, reply: Reply);
}

/// One subscriber and its counters.
pub struct Subscriber {
    name: String,
    patterns: RwLock<Vec<String>>,
    sink: Box<dyn EventSink>,
    failed: Arc<AtomicBool>,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

impl Subscriber {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Replaces the topic patterns (the Lua engine does on reload).
    pub fn set_patterns(&self, patterns: Vec<String>) {
        *self.patterns.write().unwrap_or_else(|p| p.into_inner()) = patterns;
    }
    fn wants(&self, topic: &str) -> bool {
        self.patterns
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|p| topic_matches(p, topic))
    }
}

/// Counters of one subscriber, for `tandem ctl status` and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubscriberStats {
    pub name: String,
    pub delivered: u64,
    pub dropped: u64,
    pub failed: bool,
}

struct Provider {
    owner: String,
    failed: Arc<AtomicBool>,
    handler: Arc<dyn CommandProvider>,
}

#[derive(Default)]
struct Inner {
    next_id: AtomicU64,
    subscribers: RwLock<Vec<Arc<Subscriber>>>,
    providers: RwLock<HashMap<String, Provider>>,
}

/// The bus. Cheap to clone.
#[derive(Clone, Default)]
pub struct Bus {
    inner: Arc<Inner>,
}

/// A weak handle, for objects the bus itself owns (plugin host APIs).
#[derive(Clone)]
pub struct WeakBus(std::sync::Weak<Inner>);

impl WeakBus {
    pub fn upgrade(&self) -> Option<Bus> {
        self.0.upgrade().map(|inner| Bus { inner })
    }
}

/// A command name is already provided by someone else.
#[derive(Debug, thiserror::Error)]
#[error("command `{command}` is already provided by `{owner}`")]
pub struct DuplicateCommand {
    pub command: String,
    pub owner: String,
}

impl Bus {
    pub fn new() -> Bus {
        Bus::default()
    }

    pub fn downgrade(&self) -> WeakBus {
        WeakBus(Arc::downgrade(&self.inner))
    }

    /// Adds a subscriber. `failed` is shared with whoever can mark it failed.
    pub fn subscribe(
        &self,
        name: &str,
        patterns: Vec<String>,
        failed: Arc<AtomicBool>,
        sink: Box<dyn EventSink>,
    ) -> Arc<Subscriber> {
        let subscriber = Arc::new(Subscriber {
            name: name.to_owned(),
            patterns: RwLock::new(patterns),
            sink,
            failed,
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        self.inner
            .subscribers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(subscriber.clone());
        subscriber
    }

    /// Registers `owner` as the provider of `command`. The same owner may
    /// register again (a reloaded rule does); anyone else is refused.
    pub fn provide(
        &self,
        command: &str,
        owner: &str,
        failed: Arc<AtomicBool>,
        handler: Arc<dyn CommandProvider>,
    ) -> Result<(), DuplicateCommand> {
        let mut providers = self
            .inner
            .providers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = providers.get(command).filter(|p| p.owner != owner) {
            return Err(DuplicateCommand {
                command: command.to_owned(),
                owner: existing.owner.clone(),
            });
        }
        providers.insert(
            command.to_owned(),
            Provider {
                owner: owner.to_owned(),
                failed,
                handler,
            },
        );
        Ok(())
    }

    /// Publishes an event from `source`; returns its id.
    pub fn publish(&self, source: &str, topic: &str, payload: String) -> u64 {
        self.publish_str(source, topic, &payload)
    }

    /// Publishes an event from `source`; returns its id.
    pub fn publish_str(&self, source: &str, topic: &str, payload: &str) -> u64 {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let event = SharedEvent::new(EventData::new(id, topic, source, payload));
        self.publish_shared(event);
        id
    }

    fn publish_shared(&self, event: SharedEvent) {
        let subscribers = self
            .inner
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        for subscriber in subscribers.iter() {
            if subscriber.failed.load(Ordering::Relaxed) || !subscriber.wants(event.topic()) {
                continue;
            }
            if subscriber.sink.deliver(event.clone()) {
                subscriber.delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                let dropped = subscriber.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if worth_logging(dropped) {
                    tracing::warn!(
                        subscriber = %subscriber.name,
                        topic = %event.topic(),
                        dropped,
                        "subscriber queue full: event dropped"
                    );
                }
            }
        }
    }

    /// Sends a command to its provider; the answer comes on `reply`.
    pub fn route(&self, name: &str, args: String, reply: Reply) {
        let target = {
            let providers = self
                .inner
                .providers
                .read()
                .unwrap_or_else(|p| p.into_inner());
            match providers.get(name) {
                None => Err(CommandError::unknown_command(name)),
                Some(p) if p.failed.load(Ordering::Relaxed) => Err(CommandError::new(
                    ErrorKind::PluginFailed,
                    format!("`{}`, which provides `{name}`, has failed", p.owner),
                )),
                Some(p) => Ok(p.handler.clone()),
            }
        };
        match target {
            Ok(handler) => handler.command(name, args, reply),
            Err(e) => reply.send(Err(e)),
        }
    }

    /// Removes `command` if `owner` provides it (a rule was unloaded).
    pub fn withdraw(&self, command: &str, owner: &str) -> bool {
        let mut providers = self
            .inner
            .providers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if providers.get(command).is_some_and(|p| p.owner == owner) {
            providers.remove(command);
            return true;
        }
        false
    }

    /// Every command and who provides it, sorted by command.
    pub fn commands(&self) -> Vec<(String, String)> {
        let providers = self
            .inner
            .providers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = providers
            .iter()
            .map(|(command, p)| (command.clone(), p.owner.clone()))
            .collect();
        all.sort();
        all
    }

    /// Who provides `command`, if anyone.
    pub fn provider_of(&self, command: &str) -> Option<String> {
        let providers = self
            .inner
            .providers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        providers.get(command).map(|p| p.owner.clone())
    }

    /// Counters of every subscriber.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let subscribers = self
            .inner
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        subscribers
            .iter()
            .map(|s| SubscriberStats {
                name: s.name.clone(),
                delivered: s.delivered.load(Ordering::Relaxed),
                dropped: s.dropped.load(Ordering::Relaxed),
                failed: s.failed.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
