//! Drives `xmpp_client.py` (slixmpp, Debian's `/usr/bin/python3`): an XMPP
//! client that is not Tandem code, as the user's own client or a contact.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::xmpp_server::XmppServer;

pub struct XmppClient {
    child: Child,
    stdin: ChildStdin,
    seen: Arc<Mutex<Vec<Value>>>,
    pub jid: String,
}

impl XmppClient {
    /// Logs in as `jid/resource` with `priority` and waits until online.
    pub fn login(
        server: &dyn XmppServer,
        jid: &str,
        password: &str,
        resource: &str,
        priority: i8,
    ) -> XmppClient {
        let script = crate::workspace().join("tests/support/xmpp_client.py");
        let full = format!("{jid}/{resource}");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&full)
            .arg(password)
            .arg(server.port().to_string())
            .arg(server.ca())
            .arg(priority.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start /usr/bin/python3 (apt-get install python3-slixmpp)");
        let stdin = child.stdin.take().unwrap();
        let seen = crate::json_lines(child.stdout.take().unwrap());
        let client = XmppClient {
            child,
            stdin,
            seen,
            jid: full,
        };
        // A slixmpp login on a loaded 2-core CI machine was seen to print
        // nothing for over 20 s; a bound, not a timing claim.
        client.wait_for_within(
            "online",
            Duration::from_secs(60),
            Duration::from_millis(20),
            |e| e["event"] == "online",
        );
        client
    }

    /// Sends one command (see the script).
    pub fn send(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits (20 s at most) for an event matching `pred`; panics naming
    /// `what` and listing what was seen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(
            what,
            Duration::from_secs(20),
            Duration::from_millis(20),
            pred,
        )
    }

    /// `wait_for` with its own deadline and polling interval (benchmarks
    /// poll every millisecond so the loop itself does not set the pace).
    pub fn wait_for_within(
        &self,
        what: &str,
        within: Duration,
        poll: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = self.seen.lock().unwrap().iter().find(|v| pred(v)) {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {what}; saw:\n{}",
                self.jid,
                self.seen()
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(poll);
        }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Hands over what was seen so far and forgets it (a bench counting
    /// tens of thousands of messages reads each once).
    pub fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// Forgets what was seen (to wait for what comes next).
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for XmppClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// alice (the user) with her own client "gajim" at priority 5, and bob (a
/// contact) on his phone; both subscribed to each other.
pub fn alice_and_bob(server: &dyn XmppServer) -> (String, XmppClient, XmppClient) {
    let alice = server.register("alice", "alice-secret");
    let bob = server.register("bob", "bob-secret");
    let mut gajim = XmppClient::login(server, &alice, "alice-secret", "gajim", 5);
    let mut phone = XmppClient::login(server, &bob, "bob-secret", "phone", 0);
    gajim.send(serde_json::json!({"subscribe": bob}));
    phone.send(serde_json::json!({"subscribe": alice}));
    phone.wait_for("alice/gajim online", |e| {
        e["event"] == "presence" && e["from"] == "alice@localhost/gajim" && e["type"] == "available"
    });
    (alice, gajim, phone)
}
