//! IQs: questions to the sidecar (disco#info, ping, ad-hoc commands,
//! anything else refused), the roster (query on each connection, pushes)
//! and the vCards the sidecar asks contacts for.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_xmpp::IqRequest;
use xmpp_parsers::disco::DiscoInfoQuery;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::roster::Roster;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::link::iq_answer;
use super::state::{Request, Session};
use crate::xep::{adhoc, caps as features, reach, vcard};

/// How long a contact's vCard may take to come.
const VCARD_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the server may take over a command's IQ (under the host's
/// command timeout, so a caller of a several-step command hears why).
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

impl Session {
    pub(super) async fn on_iq(&mut self, iq: Iq) {
        let (from, id, payload, is_get) = match iq {
            Iq::Get {
                from, id, payload, ..
            } => (from, id, payload, true),
            Iq::Set {
                from, id, payload, ..
            } => (from, id, payload, false),
            Iq::Result {
                from, id, payload, ..
            } => return self.on_result(from, id, payload).await,
            Iq::Error {
                from, id, error, ..
            } => {
                // Only our server answers the roster query: anyone else
                // could send an error with its (guessable) id first.
                if self.roster_query.as_deref() == Some(id.as_str())
                    && self.sent_by_own_server(from.as_ref())
                {
                    self.roster_query = None;
                }
                return self.host.warn(&format!(
                    "iq {id} failed: {}",
                    crate::convert::stanza_error_name(&error.defined_condition)
                ));
            }
        };
        if !is_get && payload.is("query", ns::ROSTER) && self.sent_by_own_server(from.as_ref()) {
            return self.on_roster_push(from, id, payload).await;
        }
        let owner = from.as_ref().is_some_and(|f| f.to_bare() == *self.owner());
        let asks_commands = payload.is("command", adhoc::NS)
            || (payload.is("query", ns::DISCO_ITEMS) && payload.attr("node") == Some(adhoc::NS));
        if asks_commands && !owner {
            self.host.warn(&format!(
                "ad-hoc commands refused to {} (only the account's owner may use them)",
                from.as_ref().map(|f| f.to_string()).unwrap_or_default()
            ));
            let error = StanzaError::new(
                ErrorType::Auth,
                DefinedCondition::Forbidden,
                "en",
                "only the account's owner",
            );
            let answer = Iq::from_error(id, error);
            let answer = match from {
                Some(to) => answer.with_to(to),
                None => answer,
            };
            return self.send(answer.into()).await;
        }
        if !is_get && payload.is("command", adhoc::NS) {
            return self.execute(from, id, &payload);
        }
        let answer = if is_get
            && payload.is("query", ns::DISCO_ITEMS)
            && payload.attr("node") == Some(adhoc::NS)
        {
            Iq::from_result(id, Some(self.adhoc_items()))
        } else if is_get && payload.is("query", ns::DISCO_ITEMS) && payload.attr("node").is_none() {
            // Browsing clients (Gajim's Service Discovery, Psi) find the
            // commands here; others learn there is nothing to browse.
            Iq::from_result(id, Some(self.browse_items(owner)))
        } else if is_get && payload.is("query", ns::DISCO_INFO) {
            let node = DiscoInfoQuery::try_from(payload).ok().and_then(|q| q.node);
            Iq::from_result(id, Some(self.disco_info_for(from.as_ref(), node)))
        } else if is_get && payload.is("ping", ns::PING) {
            Iq::from_result(id, None::<xmpp_parsers::disco::DiscoInfoResult>)
        } else {
            let error = StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
                "en",
                "not handled by this resource",
            );
            Iq::from_error(id, error)
        };
        let answer = match from {
            Some(to) => answer.with_to(to),
            None => answer,
        };
        self.send(answer.into()).await;
    }

    /// Whether a stanza comes from the user's own server acting for the
    /// account (no `from`, or the account's bare JID): roster answers and
    /// pushes are believed only then (RFC 6121 §2.1.6).
    pub(super) fn sent_by_own_server(&self, from: Option<&Jid>) -> bool {
        from.is_none_or(|f| f.resource().is_none() && f.to_bare() == self.account)
    }

    /// Asks for the roster, before the presence, so the roster comes
    /// before the contacts' presence it sets off. Sent as a plain stanza so
    /// the answer comes in order with them, as an event.
    pub(super) async fn ask_roster(&mut self) {
        let id = format!("roster-{}", self.connects);
        let roster = Iq::from_get(
            id.clone(),
            Roster {
                ver: None,
                items: Vec::new(),
            },
        );
        self.roster_query = Some(id);
        self.send(roster.into()).await;
    }

    /// Answers to stanzas sent as plain stanzas (Carbons, PEP, the
    /// roster): the roster's is read, the others logged.
    pub(super) async fn on_result(
        &mut self,
        from: Option<Jid>,
        id: String,
        payload: Option<Element>,
    ) {
        if self.on_pair_ping(&id) {
            return;
        }
        if self.roster_query.as_deref() != Some(id.as_str())
            || !self.sent_by_own_server(from.as_ref())
        {
            return self.host.debug(&format!("iq {id} answered"));
        }
        self.roster_query = None;
        // No payload: an empty roster (versioning, which would mean
        // "unchanged", is not asked for).
        let roster = match payload.map(Roster::try_from).transpose() {
            Ok(roster) => roster.unwrap_or(Roster {
                ver: None,
                items: Vec::new(),
            }),
            Err(e) => {
                return self.host.warn(&format!("malformed roster ignored: {e}"));
            }
        };
        let count = roster.items.len();
        self.pair_on_roster(&roster).await;
        for resource in self.contacts.roster_loaded(roster) {
            self.caps.gone(&resource);
        }
        self.host.debug(&format!("roster: {count} items"));
        self.fetch_vcards();
    }

    /// A roster push: the user added, changed or removed a contact
    /// (maybe from another client). Answered as RFC 6121 §2.1.6 asks.
    pub(super) async fn on_roster_push(&mut self, from: Option<Jid>, id: String, payload: Element) {
        let answer = match Roster::try_from(payload) {
            Ok(push) => {
                for resource in self.contacts.roster_pushed(push) {
                    self.caps.gone(&resource);
                }
                Iq::from_result(id, None::<Roster>)
            }
            Err(e) => Iq::from_error(
                id,
                StanzaError::new(
                    ErrorType::Modify,
                    DefinedCondition::BadRequest,
                    "en",
                    e.to_string(),
                ),
            ),
        };
        let answer = match from {
            Some(to) => answer.with_to(to),
            None => answer,
        };
        self.send(answer.into()).await;
    }

    /// Asks for a contact's vCards, vCard4 (PEP) and vcard-temp at once;
    /// the SIP addresses of both, vCard4's first, go straight to `reply`
    /// from a task of its own, within `VCARD_TIMEOUT` (under the host's
    /// command timeout, so the caller gets "none" rather than a timeout).
    /// Sends an IQ for a command; its answer goes to `reply` from a task
    /// of its own, within `ASK_TIMEOUT`.
    pub(super) async fn ask_iq(
        &mut self,
        to: Jid,
        request: IqRequest,
        reply: oneshot::Sender<Result<Element, String>>,
    ) {
        if self.bound.is_none() {
            let _ = reply.send(Err("not connected to the XMPP server".to_owned()));
            return;
        }
        let Some(token) = self.send_iq(Some(to), request).await else {
            let _ = reply.send(Err("the connection is stuck".to_owned()));
            return;
        };
        tokio::spawn(async move {
            let _ = reply.send(iq_answer(token, ASK_TIMEOUT).await);
        });
    }

    pub(super) async fn ask_vcard(
        &mut self,
        jid: BareJid,
        reply: oneshot::Sender<Vec<reach::Address>>,
    ) {
        if self.bound.is_none() {
            let _ = reply.send(Vec::new());
            return;
        }
        let to = Some(Jid::from(jid.clone()));
        let vcard4 = self
            .send_iq(to.clone(), IqRequest::Get(vcard::query_vcard4()))
            .await;
        let vcard_temp = match vcard4 {
            Some(_) => self.send_iq(to, IqRequest::Get(vcard::query())).await,
            None => None,
        };
        let (Some(vcard4), Some(vcard_temp)) = (vcard4, vcard_temp) else {
            let _ = reply.send(Vec::new());
            return;
        };
        let host = self.host.clone();
        let session = self.requests.clone();
        tokio::spawn(async move {
            let (vcard4, vcard_temp) = tokio::join!(
                iq_answer(vcard4, VCARD_TIMEOUT),
                iq_answer(vcard_temp, VCARD_TIMEOUT)
            );
            let mut found = Vec::new();
            let mut entries = Vec::new();
            for (kind, answer) in [("vCard4", vcard4), ("vcard-temp", vcard_temp)] {
                match answer {
                    Ok(element) => {
                        for address in vcard::sip_numbers(&element) {
                            if !found.contains(&address) {
                                found.push(address);
                            }
                        }
                        entries.extend(vcard::entries(&element));
                    }
                    Err(why) => host.debug(&format!("no {kind} for {jid}: {why:?}")),
                }
            }
            let _ = session.try_send(Request::VcardSeen(jid, entries));
            let _ = reply.send(found);
        });
    }
}

impl Session {
    /// Our disco#info for `from`: all of it for the account, its server
    /// and roster contacts; a stranger learns only that this is a client
    /// (docs/decisions/0038-minimal-disco-for-strangers.md).
    fn disco_info_for(
        &self,
        from: Option<&Jid>,
        node: Option<String>,
    ) -> xmpp_parsers::disco::DiscoInfoResult {
        let known = from.is_none_or(|f| {
            let bare = f.to_bare();
            bare == self.account
                || bare == *self.owner()
                || (f.node().is_none() && f.domain() == self.account.domain())
                || self.contacts.is_contact(&bare)
        });
        if known {
            features::disco_info(&self.name, node)
        } else {
            features::disco_info_minimal(node)
        }
    }
}
