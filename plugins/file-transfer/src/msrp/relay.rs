//! Reaching peers through an MSRP relay (RFC 4976), when one is configured
//! (`msrp_relay`): Tandem connects to its relay, logs in with AUTH (HTTP
//! Digest, §5.1), and gets a `Use-Path` — the relay's URI for this
//! session — and how long it holds (`Expires`). The session then runs on
//! that one connection: the relay forwards the peer's frames down it.
//!
//! How paths are built (RFC 4976 §6):
//! - our path, the SDP `a=path`: `Use-Path` then our own URI
//!   ([`Binding::path`]);
//! - a request's To-Path: `Use-Path` then the peer's whole path, which may
//!   start with the peer's own relay ([`Binding::to_path`]);
//! - its From-Path: our own URI only; each relay puts itself in front as
//!   it forwards, so the far end sees the way back.
//!
//! A receiver checks only the URI that is its own: the last of the
//! To-Path (`sender`, `receiver`), whatever hops came before.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig};
use tokio_rustls::TlsConnector;

use super::connection::{Reader, Writer};
use super::digest::{self, Challenge, Credentials};
use super::error::SessionError;
use super::frame::{Flag, Head, Ids, Kind, Method};
use super::parser::Item;
use super::uri::MsrpUri;
use crate::tls::Failure;

/// How long connecting to the relay (and its TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Re-AUTH this long before the relay's `Expires` runs out.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The relay's password: from `msrp_relay_password_file` (or `_env`),
/// which the host reads; never printed.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the relay is and who we are to it.
#[derive(Debug, Clone)]
pub struct Relay {
    /// `msrp://relay.example.org:2855;tcp` (or `msrps://` for TLS).
    pub uri: MsrpUri,
    pub user: String,
    pub password: Password,
}

/// `msrp_relay` and its user and password as the configuration gives
/// them: none, or all three usable.
pub fn from_settings(
    uri: Option<&str>,
    user: Option<&str>,
    password: &Password,
) -> Result<Option<Relay>, SettingsError> {
    let Some(text) = uri else {
        return Ok(None);
    };
    let uri = MsrpUri::parse(text).map_err(|e| SettingsError::Uri {
        uri: text.to_owned(),
        why: e.to_string(),
    })?;
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or(SettingsError::NoUser)?;
    if password.0.is_empty() {
        return Err(SettingsError::NoPassword);
    }
    Ok(Some(Relay {
        uri,
        user: user.to_owned(),
        password: password.clone(),
    }))
}

/// A relay setting that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("msrp_relay {uri:?} is not an MSRP relay address like \"msrp://relay.example.org:2855;tcp\": {why}")]
    Uri { uri: String, why: String },
    #[error("msrp_relay is set but msrp_relay_user is not")]
    NoUser,
    #[error("msrp_relay is set but its password is not (msrp_relay_password_file)")]
    NoPassword,
}

/// Why the relay could not be used, in plain words.
#[derive(Debug, Error)]
pub enum RelayError {
    #[error("could not reach the MSRP relay at {at}: {detail}")]
    Unreachable { at: String, detail: String },
    #[error("the TLS connection to the MSRP relay at {at} failed: {detail}")]
    Tls { at: String, detail: String },
    /// Its certificate failed the check against the trusted roots; `why`
    /// follows "its certificate" (the relay's private CA is trusted with
    /// `SSL_CERT_FILE`, the plugin README says how).
    #[error("the MSRP relay at {at} is not trusted: its certificate {why}")]
    Untrusted { at: String, why: &'static str },
    #[error("the MSRP relay refused the login: wrong user name or password")]
    WrongPassword,
    #[error("the MSRP relay refused the login (MSRP {code} {comment})")]
    Refused { code: u16, comment: String },
    #[error("the MSRP relay asks for a login Tandem cannot give: {0}")]
    Challenge(digest::Unanswerable),
    #[error("the MSRP relay's answer to the login is unusable: {0}")]
    Answer(&'static str),
    #[error("the MSRP relay closed the connection during the login")]
    Closed,
    #[error("the MSRP relay at {at}: {source}")]
    Connection {
        at: String,
        #[source]
        source: SessionError,
    },
}

/// The TLS client settings `msrps://` relays are reached with.
pub type TlsConfig = ClientConfig;

/// A stream to the relay, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub type RelayReader = Reader<ReadHalf<Box<dyn Stream>>>;
pub type RelayWriter = Writer<WriteHalf<Box<dyn Stream>>>;

/// A login at the relay and the connection it holds: the session's frames
/// go out on `writer` and the peer's come in on `reader`.
pub struct Binding {
    pub reader: RelayReader,
    pub writer: RelayWriter,
    /// Our own URI: the connection's local address and a fresh session id.
    pub local: MsrpUri,
    /// The relay's `Use-Path`: its URI(s) for this session.
    pub use_path: Vec<MsrpUri>,
    /// When the relay forgets the login unless refreshed.
    pub expires: Instant,
    relay: Relay,
    ids: Ids,
}

/// Connects to `relay` and logs in. `tls` is used for `msrps://` relays.
pub async fn bind(relay: &Relay, tls: Option<Arc<ClientConfig>>) -> Result<Binding, RelayError> {
    let at = relay.uri.socket_address();
    let unreachable = |detail: String| RelayError::Unreachable {
        at: at.clone(),
        detail,
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&at))
        .await
        .map_err(|_| unreachable(format!("no answer in {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let local_addr = tcp.local_addr().map_err(|e| unreachable(e.to_string()))?;
    let stream = over(&relay.uri, tcp, tls).await?;
    let (r, w) = tokio::io::split(stream);
    let mut ids = Ids::default();
    let mut local = MsrpUri::tcp(&host_of(local_addr), local_addr.port(), &ids.next());
    local.secure = relay.uri.secure;
    let mut binding = Binding {
        reader: Reader::new(r),
        writer: Writer::new(w),
        local,
        use_path: Vec::new(),
        expires: Instant::now(),
        relay: relay.clone(),
        ids,
    };
    binding.login().await?;
    Ok(binding)
}

/// `tcp`, opened to `hop`, as the stream to use: TLS for an `msrps://`
/// hop (a relay: ours, or the first of a peer's path), checked against
/// `tls`; plain otherwise.
pub async fn over(
    hop: &MsrpUri,
    tcp: TcpStream,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Box<dyn Stream>, RelayError> {
    if !hop.secure {
        return Ok(Box::new(tcp));
    }
    let at = hop.socket_address();
    let failed = |detail: String| RelayError::Tls {
        at: at.clone(),
        detail,
    };
    let tls = tls.ok_or_else(|| failed("no TLS settings were given".into()))?;
    let host = hop.host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned()).map_err(|e| failed(e.to_string()))?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TlsConnector::from(tls).connect(name, tcp))
        .await
        .map_err(|_| failed(format!("no handshake in {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| match crate::tls::failure(&e) {
            Failure::Untrusted(why) => RelayError::Untrusted {
                at: at.clone(),
                why,
            },
            Failure::NotTls => failed("it does not answer in TLS on that port".into()),
            Failure::Other(detail) => failed(detail),
        })?;
    Ok(Box::new(stream))
}

/// An address as a URI host: IPv6 in brackets.
fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

impl Binding {
    /// Our path for the SDP `a=path`: the relay's `Use-Path`, then us.
    pub fn path(&self) -> Vec<MsrpUri> {
        let mut path = self.use_path.clone();
        path.push(self.local.clone());
        path
    }

    /// The To-Path of our requests to a peer whose `a=path` is `peer`.
    pub fn to_path(&self, peer: &[MsrpUri]) -> Vec<MsrpUri> {
        let mut path = self.use_path.clone();
        path.extend_from_slice(peer);
        path
    }

    /// When to log in again ([`Binding::refresh`]) to keep the binding.
    pub fn refresh_at(&self) -> Instant {
        self.expires
            .checked_sub(REFRESH_MARGIN)
            .unwrap_or(self.expires)
    }

    /// Logs in again on the same connection, while no transfer uses it,
    /// before [`Binding::refresh_at`]. A relay may answer with a new
    /// `Use-Path` (Kamailio does: a fresh session id per AUTH): the new one
    /// is for sessions set up from now on.
    pub async fn refresh(&mut self) -> Result<(), RelayError> {
        self.login().await
    }

    /// AUTH, the 401's challenge answered, then the 200's Use-Path.
    async fn login(&mut self) -> Result<(), RelayError> {
        let mut authorization = None;
        loop {
            let mut head = Head::request(
                &self.ids.next(),
                Method::Auth,
                vec![self.relay.uri.clone()],
                vec![self.local.clone()],
            );
            let answered = authorization.is_some();
            if let Some(value) = authorization.take() {
                head.other.push(("Authorization".into(), value));
            }
            let sent = self.writer.frame(&head, &[], Flag::Complete).await;
            if !sent.map_err(|e| self.connection(e))? {
                return Err(RelayError::Closed);
            }
            let answer = self.answer(&head.tid).await?;
            let Kind::Response { code, comment } = &answer.kind else {
                unreachable!("answer() returns responses")
            };
            match code {
                200 => return self.take_use_path(&answer),
                401 | 407 if !answered => {
                    authorization = Some(self.answer_challenge(&answer)?);
                }
                401 | 403 | 407 => return Err(RelayError::WrongPassword),
                _ => {
                    return Err(RelayError::Refused {
                        code: *code,
                        comment: comment.clone().unwrap_or_default(),
                    })
                }
            }
        }
    }

    fn answer_challenge(&mut self, answer: &Head) -> Result<String, RelayError> {
        let value = answer
            .other("WWW-Authenticate")
            .ok_or(RelayError::Answer("a 401 without WWW-Authenticate"))?;
        let challenge = Challenge::parse(value).map_err(RelayError::Challenge)?;
        let uri = self.relay.uri.to_string();
        let cnonce = self.ids.next();
        Ok(digest::authorization(
            &challenge,
            &Credentials {
                user: &self.relay.user,
                password: &self.relay.password.0,
                method: Method::Auth.as_str(),
                uri: &uri,
                cnonce: &cnonce,
            },
        ))
    }

    fn take_use_path(&mut self, answer: &Head) -> Result<(), RelayError> {
        let use_path = answer
            .other("Use-Path")
            .ok_or(RelayError::Answer("a 200 without Use-Path"))?;
        self.use_path = MsrpUri::parse_path(use_path)
            .map_err(|_| RelayError::Answer("an unusable Use-Path"))?;
        // RFC 4976 §5: without Expires the client may not rely on any
        // time; a short one makes us log in again early, never late.
        let seconds = answer
            .other("Expires")
            .and_then(|e| e.trim().parse::<u64>().ok())
            .unwrap_or(REFRESH_MARGIN.as_secs());
        self.expires = Instant::now() + Duration::from_secs(seconds);
        Ok(())
    }

    /// The response to our request `tid`, read to its end-line (the
    /// session's first frame comes next); other frames are read past.
    async fn answer(&mut self, tid: &str) -> Result<Head, RelayError> {
        let mut found = None;
        loop {
            let item = self.reader.next().await.map_err(|e| self.connection(e))?;
            match item {
                None => return Err(RelayError::Closed),
                Some(Item::Head(head))
                    if head.tid == tid && matches!(head.kind, Kind::Response { .. }) =>
                {
                    found = Some(*head)
                }
                Some(Item::End(_)) => {
                    if let Some(head) = found.take() {
                        return Ok(head);
                    }
                }
                Some(Item::Body(_)) | Some(Item::Head(_)) => {}
            }
        }
    }

    fn connection(&self, source: SessionError) -> RelayError {
        RelayError::Connection {
            at: self.relay.uri.socket_address(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_all_or_nothing() {
        let password = Password("pw".into());
        assert!(from_settings(None, None, &Password::default())
            .unwrap()
            .is_none());
        let relay = from_settings(
            Some("msrps://relay.example.org;tcp"),
            Some("alice"),
            &password,
        )
        .unwrap()
        .unwrap();
        assert!(relay.uri.secure);
        assert_eq!(relay.uri.port_or_default(), 2855);
        assert_eq!(
            from_settings(Some("msrp://relay.example.org;tcp"), None, &password).unwrap_err(),
            SettingsError::NoUser
        );
        assert_eq!(
            from_settings(Some("msrp://r;tcp"), Some("a"), &Password::default()).unwrap_err(),
            SettingsError::NoPassword
        );
        let bad = from_settings(Some("relay.example.org"), Some("a"), &password).unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("msrp_relay \"relay.example.org\" is not"),
            "{bad}"
        );
    }

    #[test]
    fn the_password_is_never_printed() {
        let relay = Relay {
            uri: MsrpUri::parse("msrp://relay.example.org:2855;tcp").unwrap(),
            user: "alice".into(),
            password: Password("hunter2".into()),
        };
        assert!(!format!("{relay:?}").contains("hunter2"));
    }
}
