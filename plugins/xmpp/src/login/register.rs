//! Creating the bridge contact's account (XEP-0077 in-band registration),
//! when the user asked for it (`[plugins.xmpp] bridge_register = true`).
//!
//! Tried once per session, and only after the account's first login was
//! refused as a wrong user name or password: an account that exists is
//! never registered again at every start, and a server that does not
//! allow registration is asked once, not at every reconnection. The
//! user's own account is never created (`Config::create_account`), so a
//! typo in `jid` cannot make a new account. Registration runs on a
//! connection of its own, after TLS and before any login, as XEP-0077 §3
//! describes; the login then starts afresh.

use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::xmlstream::{FallibleStreamElement, PendingFeaturesRecv, XmppStreamElement};
use tokio_xmpp::Stanza;
use xmpp_parsers::ibr::LegacyQuery;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::stanza_error::DefinedCondition;

/// The registration's id: one request per connection.
const ID: &str = "tandem-create-account";

/// What the server did with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The account exists now.
    New,
    /// It existed before (`conflict`): so the password is what is wrong.
    AlreadyThere,
}

/// Why the account could not be created, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{domain} does not let clients create accounts (it offers no in-band registration, XEP-0077): create {jid} yourself{how}")]
    NotOffered {
        jid: String,
        domain: String,
        how: Instructions,
    },
    #[error("{domain} refused to create {jid} ({condition}{said}): create it yourself{how}")]
    Refused {
        jid: String,
        domain: String,
        condition: String,
        said: Said,
        how: Instructions,
    },
    #[error("could not ask {domain} to create the bridge account: {source}")]
    Network {
        domain: String,
        #[source]
        source: tokio_xmpp::Error,
    },
}

/// The server's own explanation, if it gave one, as `: "…"`.
#[derive(Debug, Default)]
pub struct Said(Option<String>);

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(text) => write!(f, ": \"{text}\""),
            None => Ok(()),
        }
    }
}

/// How an administrator creates the account on the two servers people
/// run most; the password stays out of it (it is never logged).
#[derive(Debug)]
pub struct Instructions {
    user: String,
    domain: String,
}

impl std::fmt::Display for Instructions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Instructions { user, domain } = self;
        write!(
            f,
            " (on the server: `prosodyctl adduser {user}@{domain}`, or `ejabberdctl register {user} {domain} <password>`), with the password in bridge_password_file"
        )
    }
}

/// Asks the server on `stream` (secure, not logged in) to create `jid`
/// with `password`.
pub async fn create<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: PendingFeaturesRecv<BufStream<S>>,
    jid: &Jid,
    password: &str,
) -> Result<Created, RegisterError> {
    let domain = jid.domain().as_str().to_owned();
    let user = jid
        .node()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let network = |source: tokio_xmpp::Error| RegisterError::Network {
        domain: domain.clone(),
        source,
    };
    let how = || Instructions {
        user: user.clone(),
        domain: domain.clone(),
    };
    let (features, mut stream) = stream
        .recv_features::<FallibleStreamElement>()
        .await
        .map_err(|e| network(e.into()))?;
    if !features.in_band_registration {
        return Err(RegisterError::NotOffered {
            jid: jid.to_string(),
            domain: domain.clone(),
            how: how(),
        });
    }
    let query = LegacyQuery {
        username: Some(user.clone()),
        password: Some(password.to_owned()),
        ..LegacyQuery::default()
    };
    let request = XmppStreamElement::Stanza(Stanza::Iq(Iq::from_set(ID, query)));
    stream.send(&request).await.map_err(|e| network(e.into()))?;
    loop {
        let element = super::next_element(&mut stream).await.map_err(network)?;
        match element {
            XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { id, .. })) if id == ID => {
                return Ok(Created::New)
            }
            XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id, error, .. })) if id == ID => {
                if error.defined_condition == DefinedCondition::Conflict {
                    return Ok(Created::AlreadyThere);
                }
                return Err(RegisterError::Refused {
                    jid: jid.to_string(),
                    domain: domain.clone(),
                    condition: crate::convert::stanza_error_name(&error.defined_condition),
                    said: Said(error.texts.values().next().cloned()),
                    how: how(),
                });
            }
            // Nothing else is expected before the answer; anything that
            // comes (a stream-management nonza) is not for us.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_never_carries_the_password() {
        let e = RegisterError::NotOffered {
            jid: "alice.phone@example.org".into(),
            domain: "example.org".into(),
            how: Instructions {
                user: "alice.phone".into(),
                domain: "example.org".into(),
            },
        };
        let text = e.to_string();
        assert!(
            text.contains("prosodyctl adduser alice.phone@example.org"),
            "{text}"
        );
        assert!(text.contains("ejabberdctl register alice.phone example.org <password>"));
    }
}
