use std::sync::Mutex;
use std::time::Duration;

use super::*;
use tandem_sdk::Payload;

/// A sink with a fixed capacity that records topics.
struct Recorder {
    capacity: usize,
    seen: Arc<Mutex<Vec<String>>>,
}

impl EventSink for Recorder {
    fn deliver(&self, event: SharedEvent) -> bool {
        let mut seen = self.seen.lock().unwrap();
        if seen.len() >= self.capacity {
            return false;
        }
        seen.push(format!("{}:{}", event.topic(), event.payload()));
        true
    }
}

fn recorder(bus: &Bus, name: &str, patterns: &[&str], capacity: usize) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    bus.subscribe(
        name,
        patterns.iter().map(|s| s.to_string()).collect(),
        Arc::new(AtomicBool::new(false)),
        Box::new(Recorder {
            capacity,
            seen: seen.clone(),
        }),
    );
    seen
}

#[test]
fn events_fan_out_in_publish_order_to_matching_subscribers() {
    let bus = Bus::new();
    let all = recorder(&bus, "all", &["*"], 100);
    let calls = recorder(&bus, "calls", &["sip.call.*"], 100);
    for i in 0..5 {
        bus.publish("test", "sip.call.answered", format!("{i}"));
        bus.publish("test", "xmpp.presence", format!("{i}"));
    }
    assert_eq!(all.lock().unwrap().len(), 10);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        (0..5)
            .map(|i| format!("sip.call.answered:{i}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_full_subscriber_drops_and_counts_without_affecting_others() {
    let bus = Bus::new();
    let slow = recorder(&bus, "slow", &["*"], 3);
    let fast = recorder(&bus, "fast", &["*"], 1000);
    for i in 0..10 {
        bus.publish("test", "t", i.to_string());
    }
    assert_eq!(slow.lock().unwrap().len(), 3);
    assert_eq!(fast.lock().unwrap().len(), 10);
    let stats = bus.stats();
    let slow_stats = stats.iter().find(|s| s.name == "slow").unwrap();
    assert_eq!((slow_stats.delivered, slow_stats.dropped), (3, 7));
}

#[test]
fn failed_subscribers_get_nothing() {
    let bus = Bus::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicBool::new(true));
    bus.subscribe(
        "dead",
        vec!["*".into()],
        failed,
        Box::new(Recorder {
            capacity: 10,
            seen: seen.clone(),
        }),
    );
    bus.publish("test", "t", "{}".into());
    assert!(seen.lock().unwrap().is_empty());
}

struct Upper;
impl CommandProvider for Upper {
    fn command(&self, _name: &str, args: String, reply: Reply) {
        reply.send(Ok(args.to_uppercase()));
    }
}

#[tokio::test]
async fn commands_route_to_their_provider_with_typed_errors() {
    let bus = Bus::new();
    let failed = Arc::new(AtomicBool::new(false));
    bus.provide("x.upper", "up", failed.clone(), Arc::new(Upper))
        .unwrap();
    let t = Duration::from_secs(1);

    let ok = call(&bus, "x.upper", Payload::from_json(r#""abc""#).unwrap(), t).await;
    assert_eq!(ok.unwrap().as_json(), r#""ABC""#);

    let unknown = call(&bus, "x.nobody", Payload::empty(), t)
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::UnknownCommand);

    let dup = bus
        .provide("x.upper", "other", failed.clone(), Arc::new(Upper))
        .unwrap_err();
    assert_eq!(dup.owner, "up");
    // The owner itself may register again; only the owner may withdraw.
    bus.provide("x.upper", "up", failed.clone(), Arc::new(Upper))
        .unwrap();
    assert!(!bus.withdraw("x.upper", "other"));
    assert_eq!(bus.commands(), vec![("x.upper".into(), "up".into())]);

    failed.store(true, Ordering::SeqCst);
    let dead = call(&bus, "x.upper", Payload::empty(), t)
        .await
        .unwrap_err();
    assert_eq!(dead.kind, ErrorKind::PluginFailed);

    assert!(bus.withdraw("x.upper", "up"));
    let gone = call(&bus, "x.upper", Payload::empty(), t)
        .await
        .unwrap_err();
    assert_eq!(gone.kind, ErrorKind::UnknownCommand);
}

struct Silent(Mutex<Vec<Reply>>);
impl CommandProvider for Silent {
    fn command(&self, _name: &str, _args: String, reply: Reply) {
        self.0.lock().unwrap().push(reply); // never answers
    }
}
struct Dropper;
impl CommandProvider for Dropper {
    fn command(&self, _name: &str, _args: String, _reply: Reply) {}
}

#[tokio::test]
async fn silent_provider_times_out_and_dropping_provider_is_reported() {
    let bus = Bus::new();
    let ok = Arc::new(AtomicBool::new(false));
    bus.provide(
        "x.silent",
        "s",
        ok.clone(),
        Arc::new(Silent(Mutex::new(Vec::new()))),
    )
    .unwrap();
    bus.provide("x.drop", "d", ok, Arc::new(Dropper)).unwrap();
    let e = call(
        &bus,
        "x.silent",
        Payload::empty(),
        Duration::from_millis(50),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    let e = call(&bus, "x.drop", Payload::empty(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PluginFailed);
}

/// A reply channel of its own kind (the ABI's, in `plugins`) comes back out
/// of a `Reply` as it went in; any other reply stays a reply.
#[test]
fn a_channel_passes_through_a_reply_unwrapped() {
    struct Marked(std::sync::mpsc::Sender<Answer>);
    impl Channel for Marked {
        fn send(self, answer: Answer) {
            let _ = self.0.send(answer);
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let reply = Reply::from_channel(Marked(tx));
    let Ok(Marked(tx)) = reply.take::<Marked>() else {
        panic!("the channel did not come back");
    };
    let (other_tx, other_rx) = std::sync::mpsc::channel();
    let other = Reply::from_fn(move |a| {
        let _ = other_tx.send(a);
    });
    let other = other.take::<Marked>().err().expect("not a Marked");
    other.send(Ok("1".into()));
    assert_eq!(other_rx.recv().unwrap().unwrap(), "1");
    // Dropped unanswered: the caller hears so.
    drop(Reply::from_channel(Marked(tx)));
    assert_eq!(
        rx.recv().unwrap().unwrap_err().kind,
        ErrorKind::PluginFailed
    );
}
