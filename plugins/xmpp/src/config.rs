//! `[plugins.xmpp]`: the account the sidecar logs into.

use serde::Deserialize;

/// The sidecar's configuration. The password comes from `password_file` or
/// `password_env` (resolved by the host) and is never logged.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The user's own bare JID, e.g. `alice@example.org`.
    pub jid: String,
    pub password: String,
    /// The sidecar's resource, next to the user's clients.
    pub resource: String,
    /// Priority of the sidecar's presence: negative, so messages to the
    /// bare JID keep going to the user's own client.
    pub priority: i8,
    /// Server host; without it, the JID's domain (SRV lookup).
    pub host: Option<String>,
    /// Server port when `host` is set; 5222, or 5223 with `direct_tls`.
    pub port: Option<u16>,
    /// XEP-0368 direct TLS: TLS from the first byte (SRV
    /// `_xmpps-client._tcp`, or `host` and `port`) instead of STARTTLS on a
    /// plain connection.
    pub direct_tls: bool,
    /// A PEM file of CA certificates to trust instead of the system's (a
    /// self-hosted server with its own CA). Named `_path`: `_file` keys are
    /// secrets the host reads.
    pub ca_path: Option<std::path::PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint
    /// (hex, colons allowed), whoever signed it: a self-hosted server's
    /// self-made certificate, as Profanity's `/tls trust` does.
    pub pin_sha256: Option<String>,
    /// Plain TCP without TLS. Only for test servers on loopback; logged loudly.
    pub insecure: bool,
    /// Name shown in disco#info.
    pub name: String,
    /// Seconds between pings to the server; a ping unanswered in this time
    /// means the connection is lost.
    pub keepalive_seconds: u64,
    /// Hours a pre-authenticated roster link given to a SIP peer stays
    /// good (XEP-0379, REQ-4); it is good once either way.
    pub preauth_ttl_hours: u64,
    /// Back-off between fresh connections after a loss (RFC 5626 §4.5:
    /// base doubling up to max, times a random 50–100 %).
    pub reconnect_base_seconds: u64,
    pub reconnect_max_seconds: u64,
    /// Where contacts can reach the user other than over XMPP (XEP-0152),
    /// e.g. `["sip:alice@sip.example.org"]`: published in presence and by
    /// PEP, so a contact's client (or sidecar) can call them.
    pub reach: Vec<String>,
    /// SASL mechanisms allowed, for odd servers: `["SCRAM-SHA-1"]` pins
    /// one, `["-SCRAM-SHA-1-PLUS"]` excludes one; empty: the best the
    /// server offers (crate::login::mechanism).
    pub sasl: Vec<String>,
    /// Logins refused in a row (wrong password...) before the sidecar
    /// stops trying until `xmpp.reconnect` or a restart: few, so a wrong
    /// password never trips the server's fail2ban.
    pub auth_tries: u32,
    /// Seconds to wait after a refused login before trying again.
    pub auth_retry_seconds: u64,
    /// Where notes for the user (a SIP message, a missed call) wait on
    /// disk while none of their clients is online, so a restart loses
    /// none; default `$XDG_STATE_HOME/tandem/notes-<jid>.json` (else
    /// `~/.local/state/…`). Named `_path`: `_file` keys are secrets.
    pub notes_path: Option<std::path::PathBuf>,
    /// How many notes may wait for a client at most. A note beyond them is
    /// refused, never an older one dropped: a SIP message relayed then is
    /// answered 503 with Retry-After, so its sender tries again later.
    pub held_notes: usize,
    /// The bridge contact (opt-in): a second account of the user's, e.g.
    /// `alice.phone@example.org`, created by the user. Tandem logs into it
    /// too, keeps it and the user's account subscribed to each other, and
    /// sends every note from it, so the user's client shows them as
    /// messages from a contact (with an alert) rather than notes to self.
    pub bridge_jid: Option<String>,
    /// Its password, from `bridge_password_file` or `bridge_password_env`.
    pub bridge_password: String,
    /// The name it gets on the user's roster when Tandem adds it.
    pub bridge_name: String,
    /// Let Tandem create the bridge account (XEP-0077 in-band
    /// registration) when its login is first refused, where the server
    /// allows clients to create accounts. Off by default: most servers do
    /// not allow it, and creating accounts is the user's call.
    pub bridge_register: bool,
    /// Set on the bridge session's settings only (from `bridge_register`):
    /// this session may create its own account. Never the user's own
    /// account: a typo in `jid` must not make a new one.
    #[serde(skip)]
    pub create_account: bool,
    /// The sidecar's presence while none of the user's clients is online
    /// (and no rule has set another): the sidecar alone must not make the
    /// user look available for chat. `away`, `xa` or `dnd`; `""` keeps the
    /// plain available presence.
    pub alone_show: String,
    pub alone_status: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jid: String::new(),
            password: String::new(),
            resource: "tandem".to_owned(),
            priority: -1,
            host: None,
            port: None,
            direct_tls: false,
            insecure: false,
            ca_path: None,
            pin_sha256: None,
            name: "Tandem".to_owned(),
            keepalive_seconds: 30,
            preauth_ttl_hours: 24,
            reconnect_base_seconds: 2,
            reconnect_max_seconds: 120,
            reach: Vec::new(),
            sasl: Vec::new(),
            auth_tries: 3,
            auth_retry_seconds: 300,
            notes_path: None,
            held_notes: 1024,
            bridge_jid: None,
            bridge_password: String::new(),
            bridge_name: "Phone".to_owned(),
            bridge_register: false,
            create_account: false,
            alone_show: "xa".to_owned(),
            alone_status: "Reachable by phone".to_owned(),
        }
    }
}

impl Config {
    /// The port to connect to when `host` is set.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.direct_tls { 5223 } else { 5222 })
    }

    /// The bridge contact's session settings, when one is configured: the
    /// same server and connection settings, its own account and notes.
    pub fn bridge(&self) -> Option<Config> {
        let jid = self.bridge_jid.clone()?;
        Some(Config {
            notes_path: self.notes_path.as_ref().map(|p| {
                let mut name = p.file_name().unwrap_or_default().to_owned();
                name.push(".bridge");
                p.with_file_name(name)
            }),
            password: self.bridge_password.clone(),
            // Positive: a message to its bare JID is for it.
            priority: 0,
            reach: Vec::new(),
            bridge_jid: None,
            bridge_password: String::new(),
            bridge_register: false,
            create_account: self.bridge_register,
            jid,
            ..self.clone()
        })
    }

    /// `reach`, checked.
    pub fn reach_addresses(
        &self,
    ) -> Result<Vec<crate::xep::reach::Address>, crate::xep::reach::ReachError> {
        let addresses: Vec<crate::xep::reach::Address> = self
            .reach
            .iter()
            .map(|uri| crate::xep::reach::Address {
                uri: uri.clone(),
                desc: None,
            })
            .collect();
        crate::xep::reach::validate(&addresses)?;
        Ok(addresses)
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("jid", &self.jid)
            .field("password", &"<hidden>")
            .field("resource", &self.resource)
            .field("priority", &self.priority)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("direct_tls", &self.direct_tls)
            .field("insecure", &self.insecure)
            .field("ca_path", &self.ca_path)
            .field("pin_sha256", &self.pin_sha256)
            .field("reach", &self.reach)
            .field("sasl", &self.sasl)
            .field("auth_tries", &self.auth_tries)
            .field("auth_retry_seconds", &self.auth_retry_seconds)
            .field("notes_path", &self.notes_path)
            .field("held_notes", &self.held_notes)
            .field("bridge_jid", &self.bridge_jid)
            .field("bridge_password", &"<hidden>")
            .field("bridge_name", &self.bridge_name)
            .field("bridge_register", &self.bridge_register)
            .field("create_account", &self.create_account)
            .field("alone_show", &self.alone_show)
            .field("alone_status", &self.alone_status)
            .finish()
    }
}
