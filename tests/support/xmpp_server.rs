//! What the XMPP tests need of a server, so the same story runs against
//! Prosody and ejabberd (issue 19) without being copied.

use std::path::PathBuf;

pub trait XmppServer {
    /// `prosody` or `ejabberd`, for messages.
    fn name(&self) -> &'static str;
    /// The client port (STARTTLS, TLS required) on 127.0.0.1.
    fn port(&self) -> u16;
    /// The CA that signed the server's certificate.
    fn ca(&self) -> PathBuf;
    /// Creates `user@localhost`; answers the bare JID.
    fn register(&self, user: &str, password: &str) -> String;
    /// The server's log so far.
    fn log(&self) -> String;
    /// Kills the server and starts it again on the same port and data.
    fn restart(&mut self);
}

impl XmppServer for crate::prosody::Prosody {
    fn name(&self) -> &'static str {
        "prosody"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn ca(&self) -> PathBuf {
        crate::prosody::Prosody::ca(self)
    }
    fn register(&self, user: &str, password: &str) -> String {
        crate::prosody::Prosody::register(self, user, password)
    }
    fn log(&self) -> String {
        crate::prosody::Prosody::log(self)
    }
    fn restart(&mut self) {
        crate::prosody::Prosody::restart(self)
    }
}
