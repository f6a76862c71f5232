//! `[plugins.sip]`: where the plugin listens, who it is, and what audio a
//! call carries.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::guard::accept_from::{AcceptFrom, AcceptFromError, AcceptFromSetting};

/// `codecs`: read here, applied by the media layer.
pub mod codecs;
/// `media_encryption`: read here, applied by the media layer.
pub mod encryption;
/// `listen`: one address, or one per family (decision 0075).
pub mod listen;

pub use listen::Listen;

/// The SIP plugin's configuration. The password comes from `password_file`
/// or `password_env` (resolved by the host) and is never logged.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Local address for SIP. Port 0 picks a free one (tests, the demo).
    /// A list of one IPv4 and one IPv6 address listens on both families
    /// at once, on one port where it can (`config/listen.rs`, decision
    /// 0075).
    pub listen: Listen,
    /// Transports to listen on: `udp`, `tcp`, `tls`.
    pub transports: Vec<String>,
    /// Where SIP over TLS listens; `listen`'s address and port + 1 (5061
    /// beside 5060) when unset (each of them, for a list), a free port
    /// when `listen`'s port is 0.
    pub tls_listen: Option<SocketAddr>,
    /// Our certificate chain and its key, PEM text, needed to accept TLS.
    /// Written `tls_certificate_file` / `tls_key_file` in the config: the
    /// host reads them like any secret (the key is never logged).
    pub tls_certificate: Option<String>,
    pub tls_key: Option<String>,
    /// The CAs trusted for TLS peers (PEM); the system's bundle
    /// (`SSL_CERT_FILE`, else `/etc/ssl/certs/ca-certificates.crt`) when
    /// unset.
    pub ca_path: Option<PathBuf>,
    /// Where the last calls that ended are kept, so `tandem ctl calls` and
    /// Status still list them after a restart; default
    /// `$XDG_STATE_HOME/tandem/calls-<user>@<domain>.json` (else
    /// `~/.local/state/…`). Named `_path`: `_file` keys are secrets.
    pub calls_path: Option<PathBuf>,
    /// The user part of our From and Contact (`alice` in `sip:alice@host`).
    pub user: String,
    /// The domain of our From URI; the listening address when empty
    /// (peer-to-peer calls with no registrar).
    pub domain: String,
    pub display_name: Option<String>,
    /// `sip:registrar.example.org`; no registration when unset.
    pub registrar: Option<String>,
    /// Digest user name when it differs from `user`.
    pub auth_username: Option<String>,
    pub password: String,
    /// Seconds asked for in REGISTER.
    pub expires: u32,
    /// Seconds between keep-alives to the registrar (OPTIONS over UDP,
    /// CRLF CRLF over TCP and TLS), so a NAT keeps the way in open; 0 = none.
    /// Unset: 25, and none while the registrar is on the local network
    /// (`ua/keepalive.rs`).
    pub keepalive_secs: Option<u64>,
    /// RFC 5626 outbound: each REGISTER names this device (an instance id
    /// kept in `$XDG_STATE_HOME/tandem/instance-<user>@<domain>.json`)
    /// and its flow (`reg-id`), so the registrar replaces our binding
    /// after a restart or a NAT change, and, when it does outbound, sends
    /// calls down the connection we opened (`ua/outbound.rs`, decision
    /// 0070). A registrar that does not is used as before. On by default.
    pub outbound: bool,
    /// The address written in SDP (`c=`), where peers send their RTP: a
    /// NAT's public address, say, which is not ours to bind. Unset: the
    /// address RTP binds to, or for a wildcard bind the address of the
    /// interface that reaches the peer (`media/address.rs`).
    pub media_address: Option<IpAddr>,
    /// Where RTP sockets bind; `listen`'s address when unset (a wildcard
    /// `0.0.0.0` takes RTP on every interface).
    pub media_bind: Option<IpAddr>,
    /// Deprecated: sets both `media_address` and `media_bind`, as it always
    /// did (which is why it could not name a public address); refused
    /// beside either of them.
    pub media_ip: Option<IpAddr>,
    /// RTP port range (even ports; RTCP is the next odd one).
    pub rtp_ports: [u16; 2],
    /// A STUN server (`host:port`, RFC 8489) asked, from each call's RTP
    /// and RTCP sockets, where a NAT maps them, so the SDP names that
    /// address and port. Unset: no STUN (`media/reflexive.rs`, decision
    /// 0065).
    pub stun_server: Option<String>,
    /// `"none"`, `"sdes"` (SRTP with keys in the SDP when the peer takes
    /// it) or `"sdes-required"` (SRTP or no call). Unset: `"sdes"` for
    /// calls signalled over TLS, `"none"` over UDP and TCP, where the keys
    /// would travel in clear (`media/encryption.rs`, decision 0063).
    /// `"dtls"` and `"dtls-required"`: the same with DTLS-SRTP offered;
    /// every value but `"none"` answers a DTLS-SRTP offer (decision 0076).
    pub media_encryption: Option<crate::config::encryption::Encryption>,
    /// The audio codecs calls may use, best first: what we offer, and
    /// what we pick from an offer (`"opus"`, `"G722"`, `"PCMU"`,
    /// `"PCMA"`; decision 0064). A codec this machine cannot run (Opus
    /// without libopus) is left out, and `tandem check` says so.
    pub codecs: Vec<crate::config::codecs::Codec>,
    /// What we send in a call: `silence`, `tone:440`, `wav:/path/file.wav`,
    /// or the microphone: `device` (the system's default) or `device:NAME`.
    pub source: String,
    /// Where received audio goes: `null` or `wav:/path/{call}.wav` (`{call}`
    /// becomes the call id, so each call gets its own file).
    pub record: String,
    /// Where received audio is played: `none`, or the speaker: `device`
    /// (the system's default) or `device:NAME`. Independent of `record`.
    pub playback: String,
    /// Extra headers on our INVITEs and 200 OKs, e.g. `"Subject: …"`.
    pub extra_headers: Vec<String>,
    /// The user's XMPP address, `xmpp:alice@example.org`, announced as
    /// `Call-Info: <…>;purpose=impp` on every INVITE and 2xx (RFC 6993,
    /// RFC 7081; REQ-2). Usually left unset: the shipped rule
    /// `share-xmpp-address.lua` sets it from the XMPP plugin's login.
    pub impp: Option<String>,
    /// Seconds an incoming call rings before it is given up as missed
    /// (answered 480 Temporarily Unavailable).
    pub ring_timeout_seconds: u64,
    /// Seconds without RTP or RTCP from the peer (not on hold) before an
    /// answered call is hung up as `media_timeout`: a peer that vanished
    /// without a BYE must not keep a call, its ports and its sender alive
    /// for ever. 0 switches it off.
    pub media_timeout_seconds: u64,
    /// How many incoming calls may ring at once. An INVITE beyond them is
    /// answered 486 Busy Here at once, with no event and no call: a flood
    /// of INVITEs must not become a flood of calls, dialogs, ring timers
    /// and rule runs. Answered calls do not count.
    pub max_ringing: usize,
    /// How many TCP and TLS connections peers may hold open to us at once,
    /// together. A connection beyond them is closed as soon as it is
    /// accepted (and counted, `refused_connections` in `sip.status`): each
    /// costs a file descriptor, buffers and a task, and a peer must not be
    /// able to open them until the process runs out. Connections Tandem
    /// opens itself (to a registrar, a callee) do not count.
    pub max_connections: usize,
    /// Of those, from one address at most.
    pub max_connections_per_source: usize,
    /// Whose INVITE and MESSAGE are taken: `"anyone"`, `"registrar"` (from
    /// the registrar's addresses only), or a list of IP addresses and CIDR
    /// prefixes, which may name `"registrar"` too. Unset: `"registrar"`
    /// with a registrar, `"anyone"` without (peer-to-peer). See
    /// `src/accept.rs`: the From header proves nothing.
    pub accept_from: Option<AcceptFromSetting>,
    /// MESSAGEs a second that one source may send on average (a sender the
    /// registrar vouches for counts by its address, anyone else by IP; see
    /// `guard/message_rate.rs`). Beyond it a MESSAGE is answered 486 Busy
    /// Here with Retry-After, and no one else is slowed. 0: no limit.
    pub message_rate: f64,
    /// How many MESSAGEs one source may send at once before
    /// `message_rate` applies (a backlog of SMS, say).
    pub message_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Listen::one(SocketAddr::from(([0, 0, 0, 0], 5060))),
            transports: vec!["udp".to_owned()],
            tls_listen: None,
            tls_certificate: None,
            tls_key: None,
            ca_path: None,
            calls_path: None,
            user: "tandem".to_owned(),
            domain: String::new(),
            display_name: None,
            registrar: None,
            auth_username: None,
            password: String::new(),
            expires: 600,
            keepalive_secs: None,
            outbound: true,
            media_address: None,
            media_bind: None,
            media_ip: None,
            rtp_ports: [16384, 32766],
            stun_server: None,
            media_encryption: None,
            codecs: crate::config::codecs::Codec::default_order(),
            source: "silence".to_owned(),
            record: "null".to_owned(),
            playback: "none".to_owned(),
            extra_headers: Vec::new(),
            impp: None,
            ring_timeout_seconds: 60,
            media_timeout_seconds: 60,
            max_ringing: 16,
            max_connections: 256,
            max_connections_per_source: 32,
            accept_from: None,
            message_rate: 5.0,
            message_burst: 20,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("transports", &self.transports)
            .field("tls_listen", &self.tls_listen)
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("registrar", &self.registrar)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .field("record", &self.record)
            .field("playback", &self.playback)
            .field("media_encryption", &self.media_encryption)
            .field("codecs", &self.codecs)
            .field("max_ringing", &self.max_ringing)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_source",
                &self.max_connections_per_source,
            )
            .field("accept_from", &self.accept_from)
            .field("message_rate", &self.message_rate)
            .field("message_burst", &self.message_burst)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot work, said before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("transport {0:?} is not supported (use \"udp\", \"tcp\" or \"tls\")")]
    Transport(String),
    #[error("no transport configured: set transports = [\"udp\"]")]
    NoTransport,
    #[error("registrar {0:?} is not a SIP URI: {1}")]
    Registrar(String, String),
    #[error("extra header {0:?} is not \"Name: value\"")]
    Header(String),
    #[error("impp {0:?} is not an XMPP address such as \"xmpp:alice@example.org\"")]
    Impp(String),
    #[error("stun_server {0:?} is not host:port (stun.example.org:3478, say)")]
    StunServer(String),
    #[error("rtp_ports {0:?} is not a range of at least two ports")]
    RtpPorts([u16; 2]),
    #[error("a registrar is set but no password")]
    NoPassword,
    #[error("transport \"tls\" needs tls_certificate_file and tls_key_file (PEM files)")]
    TlsIdentity,
    #[error("max_ringing must be at least 1 (calls beyond it are answered 486 Busy Here)")]
    MaxRinging,
    #[error(
        "message_rate must be a number of MESSAGEs a second, 0 or more (0: no limit), not {0}"
    )]
    MessageRate(f64),
    #[error(
        "max_connections and max_connections_per_source must be at least 1 \
         (TCP and TLS connections beyond them are closed at once)"
    )]
    MaxConnections,
    #[error(
        "media_ip (deprecated) cannot be set beside media_address or media_bind: \
         media_address is written in SDP, media_bind is where RTP binds"
    )]
    MediaIpWithSplitKeys,
    #[error("codecs is empty: name at least one, such as codecs = [\"PCMU\"]")]
    NoCodecs,
    #[error(transparent)]
    AcceptFrom(#[from] AcceptFromError),
}

impl Config {
    /// Checks what serde cannot: values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.transports.is_empty() {
            return Err(ConfigError::NoTransport);
        }
        for t in &self.transports {
            if !matches!(t.as_str(), "udp" | "tcp" | "tls") {
                return Err(ConfigError::Transport(t.clone()));
            }
        }
        if self.transports.iter().any(|t| t == "tls")
            && (self.tls_certificate.is_none() || self.tls_key.is_none())
        {
            return Err(ConfigError::TlsIdentity);
        }
        if let Some(registrar) = &self.registrar {
            crate::uri::parse_target(registrar)
                .map_err(|e| ConfigError::Registrar(registrar.clone(), e.to_string()))?;
            if self.password.is_empty() {
                return Err(ConfigError::NoPassword);
            }
        }
        for h in &self.extra_headers {
            split_header(h).ok_or_else(|| ConfigError::Header(h.clone()))?;
        }
        if let Some(impp) = &self.impp {
            if !is_xmpp_address(impp) {
                return Err(ConfigError::Impp(impp.clone()));
            }
        }
        let [lo, hi] = self.rtp_ports;
        if hi <= lo {
            return Err(ConfigError::RtpPorts(self.rtp_ports));
        }
        if let Some(server) = &self.stun_server {
            let valid = server.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(ConfigError::StunServer(server.clone()));
            }
        }
        if self.max_ringing == 0 {
            return Err(ConfigError::MaxRinging);
        }
        if !self.message_rate.is_finite() || self.message_rate < 0.0 {
            return Err(ConfigError::MessageRate(self.message_rate));
        }
        if self.max_connections == 0 || self.max_connections_per_source == 0 {
            return Err(ConfigError::MaxConnections);
        }
        if self.codecs.is_empty() {
            return Err(ConfigError::NoCodecs);
        }
        if self.media_ip.is_some() && (self.media_address.is_some() || self.media_bind.is_some()) {
            return Err(ConfigError::MediaIpWithSplitKeys);
        }
        self.accept_from()?;
        Ok(())
    }

    /// Whom INVITE and MESSAGE are taken from (see `accept_from`).
    pub fn accept_from(&self) -> Result<AcceptFrom, AcceptFromError> {
        AcceptFrom::from_setting(self.accept_from.as_ref(), self.registrar.is_some())
    }

    /// Where TLS listens (see `tls_listen`): the address set, else each
    /// of `listen`'s with port + 1.
    pub fn tls_listen(&self) -> Listen {
        match self.tls_listen {
            Some(addr) => Listen::one(addr),
            None => {
                let port = match self.listen.first().port() {
                    0 => 0,
                    p => p.saturating_add(1),
                };
                self.listen.with_port(port)
            }
        }
    }

    /// Where RTP binds: `media_bind`, the deprecated `media_ip`, else
    /// `listen`'s address (wildcard included).
    pub fn media_bind(&self) -> IpAddr {
        self.media_bind_toward(None)
    }

    /// Where RTP binds for a call with `peer`: `media_bind`, the deprecated
    /// `media_ip`, else the `listen` address of the peer's family (an IPv6
    /// peer gets an IPv6 socket when we listen on IPv6 too).
    pub fn media_bind_toward(&self, peer: Option<IpAddr>) -> IpAddr {
        self.media_bind
            .or(self.media_ip)
            .unwrap_or_else(|| self.listen.toward(peer).ip())
    }

    /// What `tandem check` says of a dual-stack `listen`: every address,
    /// by transport and family (one address says nothing new).
    pub fn listening_note(&self) -> Option<String> {
        if !self.listen.is_dual() {
            return None;
        }
        let named = |listen: &Listen| {
            let each: Vec<String> = listen
                .addrs()
                .iter()
                .map(|a| format!("{a} ({})", listen::family(a.ip())))
                .collect();
            each.join(" and ")
        };
        let mut parts = Vec::new();
        let plain: Vec<&str> = self
            .transports
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "tls")
            .collect();
        if !plain.is_empty() {
            parts.push(format!(
                "{} on {}",
                plain.join(" and "),
                named(&self.listen)
            ));
        }
        if self.transports.iter().any(|t| t == "tls") {
            parts.push(format!("tls on {}", named(&self.tls_listen())));
        }
        Some(format!("listens over IPv4 and IPv6: {}", parts.join("; ")))
    }

    /// The address SDP names when set (`media_address`, or the deprecated
    /// `media_ip`); `None` leaves it to the bind address and the route.
    pub fn media_address(&self) -> Option<IpAddr> {
        self.media_address.or(self.media_ip)
    }
}

/// Whether `address` is `xmpp:user@host`, nothing that could break the
/// header it goes into.
pub fn is_xmpp_address(address: &str) -> bool {
    address.strip_prefix("xmpp:").is_some_and(|jid| {
        jid.split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
            && jid.len() <= 512
            && !jid.contains(|c: char| c.is_whitespace() || c.is_control() || "<>\",;".contains(c))
    })
}

/// `"Name: value"` → `("Name", "value")`.
pub fn split_header(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim();
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| (name, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn codecs_are_named_in_order_and_an_unknown_one_is_an_error() {
        use super::codecs::Codec;
        let config: Config = serde_json::from_str(r#"{"codecs": ["pcma", "G722"]}"#).unwrap();
        assert_eq!(config.codecs, [Codec::Pcma, Codec::G722]);
        let err = serde_json::from_str::<Config>(r#"{"codecs": ["G729"]}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"G729\" is not one Tandem speaks"),
            "{err}"
        );
        let config: Config = serde_json::from_str(r#"{"codecs": []}"#).unwrap();
        assert!(matches!(config.validate(), Err(ConfigError::NoCodecs)));
    }

    #[test]
    fn media_address_and_bind_are_apart_and_media_ip_is_both() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Default: RTP binds where SIP listens (a wildcard included), and
        // SDP's address is left to the route (`transport/route.rs`).
        let config = Config::default();
        assert_eq!(config.media_bind(), ip("0.0.0.0"));
        assert_eq!(config.media_address(), None);
        // A NAT's public address is advertised, never bound.
        let natted = Config {
            media_address: Some(ip("203.0.113.7")),
            ..Config::default()
        };
        natted.validate().unwrap();
        assert_eq!(natted.media_bind(), ip("0.0.0.0"));
        assert_eq!(natted.media_address(), Some(ip("203.0.113.7")));
        // The old key keeps meaning both.
        let old = Config {
            media_ip: Some(ip("192.0.2.10")),
            ..Config::default()
        };
        old.validate().unwrap();
        assert_eq!(old.media_bind(), ip("192.0.2.10"));
        assert_eq!(old.media_address(), Some(ip("192.0.2.10")));
        let both = Config {
            media_bind: Some(ip("0.0.0.0")),
            ..old
        };
        assert!(matches!(
            both.validate(),
            Err(ConfigError::MediaIpWithSplitKeys)
        ));
    }

    #[test]
    fn registrar_needs_a_password() {
        let config = Config {
            registrar: Some("sip:127.0.0.1:5070".into()),
            ..Config::default()
        };
        assert!(matches!(config.validate(), Err(ConfigError::NoPassword)));
    }

    #[test]
    fn bad_values_are_named() {
        let config = Config {
            transports: vec!["sctp".into()],
            ..Config::default()
        };
        assert!(config.validate().unwrap_err().to_string().contains("sctp"));
        let config = Config {
            extra_headers: vec!["no colon".into()],
            ..Config::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no colon"));
    }

    #[test]
    fn tls_needs_an_identity_and_listens_beside_udp() {
        let mut config = Config {
            transports: vec!["udp".into(), "tls".into()],
            ..Config::default()
        };
        assert!(matches!(config.validate(), Err(ConfigError::TlsIdentity)));
        config.tls_certificate = Some("-----BEGIN CERTIFICATE-----".into());
        config.tls_key = Some("-----BEGIN PRIVATE KEY-----".into());
        config.validate().unwrap();
        assert_eq!(config.tls_listen().first().port(), 5061);
        config.listen = config.listen.with_port(0);
        assert_eq!(config.tls_listen().first().port(), 0);
    }

    #[test]
    fn a_dual_stack_listen_puts_tls_and_rtp_beside_each_family_and_says_every_address() {
        let config: Config = serde_json::from_str(
            r#"{"listen": ["[::]:5060", "0.0.0.0:5060"], "transports": ["udp", "tcp", "tls"]}"#,
        )
        .unwrap();
        let tls: Vec<String> = config
            .tls_listen()
            .addrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(tls, ["0.0.0.0:5061", "[::]:5061"]);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            config.media_bind_toward(Some(v6)),
            "::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            config.media_bind_toward(Some(v4)),
            "0.0.0.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(config.media_bind(), "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(
            config.listening_note().unwrap(),
            "listens over IPv4 and IPv6: udp and tcp on 0.0.0.0:5060 (IPv4) and [::]:5060 (IPv6); \
             tls on 0.0.0.0:5061 (IPv4) and [::]:5061 (IPv6)"
        );
        // media_bind, when set, is where RTP binds whatever the peer.
        let config = Config {
            media_bind: Some(v4),
            ..config
        };
        assert_eq!(config.media_bind_toward(Some(v6)), v4);
        assert_eq!(Config::default().listening_note(), None);
    }

    #[test]
    fn ringing_is_capped_and_accept_from_checked_at_start() {
        let config: Config =
            serde_json::from_str(r#"{"registrar": "sip:192.0.2.1", "password": "x"}"#).unwrap();
        assert_eq!(config.max_ringing, 16);
        assert!(
            matches!(
                config.accept_from(),
                Ok(AcceptFrom::Only {
                    registrar: true,
                    ..
                })
            ),
            "the registrar by default when there is one"
        );
        assert_eq!(Config::default().accept_from(), Ok(AcceptFrom::Anyone));
        let config: Config =
            serde_json::from_str(r#"{"accept_from": ["192.0.2.0/24", "10.0.0.1"]}"#).unwrap();
        config.validate().unwrap();
        let config: Config = serde_json::from_str(r#"{"accept_from": "registrar"}"#).unwrap();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no registrar"));
        let config: Config = serde_json::from_str(r#"{"accept_from": ["nowhere"]}"#).unwrap();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("nowhere"));
        let config = Config {
            max_ringing: 0,
            ..Config::default()
        };
        assert!(matches!(config.validate(), Err(ConfigError::MaxRinging)));
    }

    #[test]
    fn connections_are_capped_at_one_at_least() {
        let config: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(config.max_connections, 256);
        let config: Config = serde_json::from_str(r#"{"max_connections": 0}"#).unwrap();
        let err = config.validate().unwrap_err();
        assert!(matches!(err, ConfigError::MaxConnections));
        assert!(err.to_string().contains("max_connections"), "{err}");
        let config: Config = serde_json::from_str(r#"{"max_connections": 1}"#).unwrap();
        config.validate().unwrap();
        assert_eq!(config.max_connections_per_source, 32);
        let config: Config = serde_json::from_str(r#"{"max_connections_per_source": 0}"#).unwrap();
        let err = config.validate().unwrap_err();
        assert!(
            err.to_string().contains("max_connections_per_source"),
            "{err}"
        );
    }

    #[test]
    fn header_lines_split() {
        assert_eq!(
            split_header("Call-Info: <xmpp:a@b>;purpose=impp"),
            Some(("Call-Info", "<xmpp:a@b>;purpose=impp"))
        );
        assert_eq!(split_header(": x"), None);
    }

    #[test]
    fn password_is_not_in_debug() {
        let config = Config {
            password: "hunter2".into(),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
