//! Events: what happened, published once and delivered to every subscriber.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::abi::{EventData, SharedEvent};
use crate::payload::{decode_json, PayloadError};
use crate::Payload;

/// A typed event of the built-in vocabulary (see [`crate::events`]).
pub trait EventType: Serialize + DeserializeOwned {
    /// The topic it is published under, e.g. `sip.call.answered`.
    const TOPIC: &'static str;
}

/// An event as a plugin receives it. Cheap to clone: the data is shared.
#[derive(Clone)]
pub struct Event(SharedEvent);

impl Event {
    pub(crate) fn from_shared(shared: SharedEvent) -> Self {
        Event(shared)
    }

    /// Builds an event outside the host (mock host, tests).
    pub fn new(topic: &str, source: &str, payload: Payload) -> Self {
        Event(SharedEvent::new(EventData::new(
            0,
            topic,
            source,
            payload.as_json(),
        )))
    }

    /// Dotted topic, e.g. `sip.call.answered`.
    pub fn topic(&self) -> &str {
        self.0.topic()
    }

    /// Who published it: a plugin id, `lua:<script>` or `host`.
    pub fn source(&self) -> &str {
        self.0.source()
    }

    /// Host-wide sequence number (0 outside the host).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The payload as JSON text.
    pub fn json(&self) -> &str {
        self.0.payload()
    }

    /// Whether this is a `T` (by topic).
    pub fn is<T: EventType>(&self) -> bool {
        self.topic() == T::TOPIC
    }

    /// Decodes the payload into any serde type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        decode_json(self.json())
    }

    /// Decodes a built-in event if the topic matches: `Ok(None)` for another topic.
    pub fn parse<T: EventType>(&self) -> Result<Option<T>, PayloadError> {
        if self.is::<T>() {
            self.decode().map(Some)
        } else {
            Ok(None)
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Event({} from {}: {})",
            self.topic(),
            self.source(),
            self.json()
        )
    }
}

/// Whether `topic` matches a subscription `pattern`: an exact topic, `*`
/// (everything), or a prefix ending in `.*` (`sip.call.*` matches
/// `sip.call.answered` but not `sip.callx`).
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => {
            topic.len() > prefix.len()
                && topic.starts_with(prefix)
                && topic.as_bytes()[prefix.len()] == b'.'
        }
        None => pattern == topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(topic_matches("*", "a.b"));
        assert!(topic_matches("sip.call.*", "sip.call.answered"));
        assert!(topic_matches("sip.*", "sip.call.answered"));
        assert!(!topic_matches("sip.call.*", "sip.callx.y"));
        assert!(!topic_matches("sip.call.*", "sip.call"));
        assert!(topic_matches("sip.call", "sip.call"));
        assert!(!topic_matches("sip.call", "sip.call.answered"));
    }

    #[test]
    fn typed_parse_checks_topic() {
        use crate::events::sip::CallAnswered;
        let ev = Event::new(
            "sip.call.answered",
            "sip",
            Payload::from_json(r#"{"call":"c1","peer":"sip:bob@example.org"}"#).unwrap(),
        );
        let answered = ev.parse::<CallAnswered>().unwrap().unwrap();
        assert_eq!(answered.call, "c1");
        let other = Event::new("sip.call.ended", "sip", Payload::empty());
        assert!(other.parse::<CallAnswered>().unwrap().is_none());
    }
}
