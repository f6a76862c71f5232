//! Logging in: the sidecar's own SASL, run by its connector before
//! tokio-xmpp sees the stream (`handoff`), so that the mechanism is chosen
//! with care (`mechanism`), a refusal says whose problem it is (`error`)
//! and is not retried into a fail2ban (`gate`), and replaced clients stop
//! connecting (`gate`). Issue 19; docs/decisions/0035 and 0036.

pub mod error;
pub mod gate;
pub mod handoff;
pub mod mechanism;
pub mod register;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use sasl::client::mechanisms::{Plain, Scram};
use sasl::client::Mechanism as _;
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::ChannelBinding;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts,
    XmppStream, XmppStreamElement,
};
use xmpp_parsers::sasl::{Auth, Mechanism as Wire, Nonza, Response};

pub use error::LoginError;
pub use gate::{Admit, Gate, Retry};
pub use handoff::Handoff;
pub use mechanism::{Mechanism, Policy, PolicyError};

/// What a client's connector logs in with.
#[derive(Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub policy: Policy,
    pub gate: Arc<Gate>,
    /// This client's generation (`Gate::new_generation`).
    pub generation: u64,
    /// The account may be created when its login is refused (the bridge
    /// contact's, with `bridge_register`): see `register`.
    pub create_account: bool,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("policy", &self.policy)
            .field("generation", &self.generation)
            .field("create_account", &self.create_account)
            .finish()
    }
}

/// The stream a connector gives tokio-xmpp.
pub type Authenticated<S> = PendingFeaturesRecv<BufStream<Handoff<S>>>;

impl Login {
    /// One connection attempt as tokio-xmpp asks for it: waits for the
    /// gate, runs `connect` (TCP, TLS, stream header; it answers the TLS
    /// 1.3 exporter binding if any), logs in. A refused login is not
    /// returned to tokio-xmpp (it would retry within seconds, for ever):
    /// it is tried again here only as the gate allows. A retired client's
    /// attempt never ends.
    pub async fn attempt<S, F, Fut>(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
        connect: F,
    ) -> Result<Authenticated<S>, tokio_xmpp::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
        F: Fn() -> Fut,
        Fut: Future<
            Output = Result<(PendingFeaturesRecv<BufStream<S>>, ChannelBinding), tokio_xmpp::Error>,
        >,
    {
        loop {
            if self.gate.admit(self.generation).await == Admit::Retired {
                return std::future::pending().await;
            }
            self.gate.attempting();
            let login = async {
                let (stream, binding) = connect().await?;
                self.authenticate(stream, binding, jid, ns, timeouts).await
            };
            let result = tokio::select! {
                result = login => result,
                _ = self.gate.retired(self.generation) => return std::future::pending().await,
            };
            match result {
                Ok(stream) => {
                    self.gate.succeeded();
                    return Ok(stream);
                }
                Err(LoginError::Network(e)) => {
                    self.gate.network_failed(&e, jid.domain().as_str());
                    return Err(e);
                }
                Err(refused) => {
                    if self.create_account_after(&refused, jid, &connect).await {
                        continue;
                    }
                    self.gate.refused(&refused)
                }
            }
        }
    }

    /// After a refused login, asks the server to create the account when
    /// that may be why (see `register`); true when it was created, so the
    /// login is tried again at once.
    async fn create_account_after<S, F, Fut>(
        &self,
        refused: &LoginError,
        jid: &Jid,
        connect: &F,
    ) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
        F: Fn() -> Fut,
        Fut: Future<
            Output = Result<(PendingFeaturesRecv<BufStream<S>>, ChannelBinding), tokio_xmpp::Error>,
        >,
    {
        if !self.create_account
            || refused.kind() != Some(error::Kind::Credentials)
            || !self.gate.may_create_account()
        {
            return false;
        }
        let host = self.gate.host();
        let outcome = match connect().await {
            Ok((stream, _)) => register::create(stream, jid, &self.password).await,
            Err(source) => Err(register::RegisterError::Network {
                domain: jid.domain().to_string(),
                source,
            }),
        };
        match outcome {
            Ok(register::Created::New) => {
                host.info(&format!(
                    "created the bridge account {} (bridge_register = true): logging in",
                    jid.to_bare()
                ));
                true
            }
            Ok(register::Created::AlreadyThere) => {
                host.warn(&format!(
                    "the bridge account {} exists already, so its password is what the server refused: check bridge_password_file",
                    jid.to_bare()
                ));
                false
            }
            Err(e) => {
                host.warn(&e.to_string());
                false
            }
        }
    }

    /// SASL on a fresh (secure) stream; on success, the stream for
    /// tokio-xmpp.
    async fn authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        stream: PendingFeaturesRecv<BufStream<S>>,
        binding: ChannelBinding,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<Authenticated<S>, LoginError> {
        let (features, mut stream) = stream
            .recv_features::<FallibleStreamElement>()
            .await
            .map_err(|e| LoginError::Network(e.into()))?;
        let exporter = match &binding {
            ChannelBinding::TlsExporter(data) => Some(data.as_slice()),
            _ => None,
        };
        let cb_types = features.sasl_cb.as_ref().map(|cb| cb.types.as_slice());
        let choice = mechanism::choose(&self.policy, &features.sasl_mechanisms, cb_types, exporter)
            .map_err(LoginError::NoMechanism)?;
        let (used, bound) = (choice.mechanism, choice.binding.header());
        let bound = String::from_utf8_lossy(bound)
            .trim_end_matches(',')
            .to_owned();
        self.exchange(&mut stream, choice).await?;
        self.gate.host().info(&format!(
            "logged in with {} (gs2 header {bound})",
            used.name()
        ));
        // The server sends nothing more until our new stream header.
        let io = stream.into_inner();
        let raw = io.into_inner();
        let handoff = Handoff::new(raw, jid.domain().as_str(), ns);
        let header = StreamHeader {
            to: Some(Cow::Borrowed(jid.domain().as_str())),
            from: None,
            id: None,
        };
        initiate_stream(BufStream::new(handoff), ns, header, timeouts)
            .await
            .map_err(|e| LoginError::Network(e.into()))
    }

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        stream: &mut XmppStream<BufStream<S>>,
        choice: mechanism::Choice,
    ) -> Result<(), LoginError> {
        let used = choice.mechanism;
        let credentials = sasl::common::Credentials::default()
            .with_username(self.username.clone())
            .with_password(self.password.clone())
            .with_channel_binding(choice.binding);
        let bad = |why: String| LoginError::Exchange {
            mechanism: used.name(),
            why,
        };
        let (mut sasl, wire): (Box<dyn sasl::client::Mechanism + Send>, Wire) = match used {
            Mechanism::ScramSha256Plus | Mechanism::ScramSha256 => (
                Box::new(
                    Scram::<Sha256>::from_credentials(credentials)
                        .map_err(|e| bad(format!("{e:?}")))?,
                ),
                if used.plus() {
                    Wire::ScramSha256Plus
                } else {
                    Wire::ScramSha256
                },
            ),
            Mechanism::ScramSha1Plus | Mechanism::ScramSha1 => (
                Box::new(
                    Scram::<Sha1>::from_credentials(credentials)
                        .map_err(|e| bad(format!("{e:?}")))?,
                ),
                if used.plus() {
                    Wire::ScramSha1Plus
                } else {
                    Wire::ScramSha1
                },
            ),
            Mechanism::Plain => (
                Box::new(Plain::from_credentials(credentials).map_err(|e| bad(format!("{e:?}")))?),
                Wire::Plain,
            ),
        };
        let auth = Auth {
            mechanism: wire,
            data: sasl.initial(),
        };
        send(stream, XmppStreamElement::Sasl(Nonza::Auth(auth))).await?;
        loop {
            let element = next_element(stream).await?;
            match element {
                XmppStreamElement::Sasl(Nonza::Challenge(challenge)) => {
                    let data = sasl
                        .response(&challenge.data)
                        .map_err(|e| bad(format!("{e:?}")))?;
                    send(
                        stream,
                        XmppStreamElement::Sasl(Nonza::Response(Response { data })),
                    )
                    .await?;
                }
                XmppStreamElement::Sasl(Nonza::Success(success)) => {
                    // SCRAM: the server proves it knows the password too.
                    if used != Mechanism::Plain {
                        sasl.success(&success.data)
                            .map_err(|e| bad(format!("{e:?}")))?;
                    }
                    return Ok(());
                }
                XmppStreamElement::Sasl(Nonza::Failure(failure)) => {
                    let text = failure.texts.values().next().cloned();
                    return Err(LoginError::refused(used, &failure.defined_condition, text));
                }
                other => {
                    return Err(bad(format!("unexpected {other:?}")));
                }
            }
        }
    }
}

/// The next element of a stream not yet logged in (soft timeouts
/// skipped); a closed or broken stream is a network error.
pub(crate) async fn next_element<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut XmppStream<BufStream<S>>,
) -> Result<XmppStreamElement, tokio_xmpp::Error> {
    loop {
        match stream
            .next()
            .await
            .map(|v| v.and_then(|v| v.into_read_error()))
        {
            Some(Ok(element)) => return Ok(element),
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e).into())
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(tokio_xmpp::Error::Disconnected)
            }
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut XmppStream<BufStream<S>>,
    element: XmppStreamElement,
) -> Result<(), LoginError> {
    stream
        .send(&element)
        .await
        .map_err(|e| LoginError::Network(e.into()))
}
