//! `sip.call`: an INVITE with our offer, followed to its final answer.

use std::sync::Arc;

use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::{Header, StatusCodeKind, Uri};
use tandem_sdk::commands::sip::CallRef;
use tandem_sdk::events::sip::{Direction, EndReason};
use tandem_sdk::{tokio, CommandError};

use crate::config::encryption::Encryption;
use crate::media::{sdp, PreparedMedia};
use crate::ua::agent::Agent;
use crate::ua::calls::{new_call_id, Call};
use crate::ua::uas::without_params;
use crate::uri::parse_target;

/// An INVITE of ours ready to go ([`Agent::invitation`]): rsipstack's
/// options, the callee for events and logs, and what to say if its
/// challenge goes unanswered.
pub struct Invitation {
    pub option: InviteOption,
    pub peer: String,
    pub withheld: Option<String>,
}

/// How long resolving a callee, or a TCP or TLS connection to it, may take.
/// Below the host's default command timeout (5 s): a caller told "timeout"
/// must not find the call placed afterwards.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

impl Agent {
    /// Sends the INVITE and answers at once with the call id; ringing,
    /// answer and failure follow as events. `invite`: the XEP-0482 invite
    /// the call answers, named on the user's `Call-Info` item.
    pub async fn place_call(
        self: &Arc<Self>,
        to: &str,
        from: Option<&str>,
        invite: Option<&str>,
    ) -> Result<CallRef, CommandError> {
        let invite = invite
            .map(|id| {
                crate::ua::identity::valid_invite(id)
                    .then_some(id)
                    .ok_or_else(|| {
                        CommandError::invalid_arguments(format!(
                            "invite `{id}` is not an invite id (letters, digits and -._~ only)"
                        ))
                    })
            })
            .transpose()?;
        let callee =
            parse_target(to).map_err(|e| CommandError::invalid_arguments(e.to_string()))?;
        let caller = match from {
            Some(from) => {
                parse_target(from).map_err(|e| CommandError::invalid_arguments(e.to_string()))?
            }
            None => self.identity.clone(),
        };
        let destination = self.reach(&callee).await?;
        // Toward where the INVITE goes: the callee's media is most likely
        // reached the same way (unknown until its answer), over the same
        // family (decision 0075).
        let toward = destination.map(|d| d.ip());
        let own = self.media_address_for(toward, toward);
        let prepared = PreparedMedia::bind(self.media_bind_toward(Some(own)), self.media.ports)
            .await
            .map_err(|e| CommandError::rejected(e.to_string()))?;
        let (media_address, port) = self.public_media(&prepared, toward, own).await;
        let encryption = Encryption::for_call(
            self.config.media_encryption,
            crate::uri::transport_of(&callee) == Some(rsipstack::sip::transport::Transport::Tls),
        );
        let security = sdp::Security {
            encryption,
            key: prepared.key,
            codecs: self.media.codecs,
        };
        let offer = sdp::offer(rand::random::<u32>().into(), media_address, port, &security);
        let id = new_call_id();
        let sip_call_id = format!("{}@tandem", new_call_id());
        let session_id = crate::ua::calls::new_call_id();
        let headers = self.invite_headers(&session_id, invite);
        let Invitation {
            option,
            peer,
            withheld,
        } = self.invitation(
            caller,
            &callee,
            toward,
            offer.into_bytes(),
            headers,
            &sip_call_id,
        );
        let mut call = Call::new(id.clone(), peer.clone(), Direction::Outgoing, sip_call_id);
        call.session_id = session_id;
        call.media_port = Some(port);
        call.media_key = Some(prepared.key);
        call.encryption = encryption;
        call.media_address = Some(media_address);
        call.prepared = Some(prepared);
        call.destination = destination;
        // Registered before the INVITE leaves, so no dialog event is missed.
        self.calls().insert(call);
        let (dialog, result) = match self.dialogs.do_invite_async(option, self.states.clone()) {
            Ok(started) => started,
            Err(e) => {
                self.calls().remove(&id);
                return Err(CommandError::rejected(format!("cannot call {peer}: {e}")));
            }
        };
        if let Some(call) = self.calls().get_mut(&id) {
            call.dialog = Some(dialog);
        }
        log::info!("calling {peer} (call {id})");
        let agent = self.clone();
        let call_id = id.clone();
        tokio::spawn(async move {
            let outcome = result.await;
            agent
                .on_invite_outcome(&call_id, outcome, withheld.as_deref())
                .await;
        });
        Ok(CallRef { call: id })
    }

    /// The headers every INVITE of ours carries: the configured extras (no
    /// Content-Type: the body's own is set), then `Call-Info` and
    /// `Session-ID` (`invite`: the XEP-0482 invite a call answers).
    pub fn invite_headers(&self, session_id: &str, invite: Option<&str>) -> Vec<Header> {
        let mut headers: Vec<Header> = self.extra_headers();
        headers.retain(|h| !matches!(h, Header::ContentType(_)));
        match (invite, self.impp()) {
            (Some(invite), Some(address)) => {
                headers.push(crate::ua::identity::call_info_answering(&address, invite));
                headers.push(crate::ua::identity::session_id(session_id, None));
            }
            _ => headers.extend(self.identity_headers(session_id, None)),
        }
        headers
    }

    /// The INVITE from `caller` to `callee` carrying the SDP `offer` and
    /// `headers`, as calls and sessions (`session_offer.rs`) both send it:
    /// our Contact toward where it goes (`toward`), the callee's
    /// transport, and the password for the user's own service only.
    pub fn invitation(
        &self,
        caller: Uri,
        callee: &Uri,
        toward: Option<std::net::IpAddr>,
        offer: Vec<u8>,
        headers: Vec<Header>,
        sip_call_id: &str,
    ) -> Invitation {
        let option = InviteOption {
            caller_display_name: self.config.display_name.clone(),
            caller,
            callee: callee.clone(),
            contact: self.contact_toward(crate::uri::transport_of(callee), toward),
            destination: crate::uri::destination_of(callee),
            content_type: Some("application/sdp".into()),
            offer: Some(offer),
            // Any callee could otherwise challenge for a digest of it.
            credential: self.credential_for(callee),
            headers: (!headers.is_empty()).then_some(headers),
            call_id: Some(sip_call_id.to_owned()),
            ..Default::default()
        };
        let peer = without_params(callee);
        // What to say if the callee challenges a request sent without it.
        let withheld = option
            .credential
            .is_none()
            .then(|| self.withheld_password(&peer))
            .flatten();
        Invitation {
            option,
            peer,
            withheld,
        }
    }

    /// Resolves the callee (and opens the connection to a TCP or TLS
    /// target) before the INVITE, which then reuses both. rsipstack's
    /// INVITE transaction swallows a failed lookup or connection and reports
    /// a 408 after Timer B (32 s); the caller deserves the reason ("no
    /// record found for notauri", "invalid peer certificate") at once. The
    /// lookup is rsipstack's own (RFC 3263: SRV, then A/AAAA), so it judges
    /// a domain exactly as the INVITE will. A UDP target that is an address
    /// asks no DNS and opens nothing; its lookup finds our UDP socket, or
    /// says at once that there is none (`transports` without "udp"), which
    /// the INVITE would also swallow.
    /// Answers the address the INVITE goes to.
    pub async fn reach(
        &self,
        callee: &rsipstack::sip::Uri,
    ) -> Result<Option<std::net::SocketAddr>, CommandError> {
        use rsipstack::sip::transport::Transport;
        let target =
            crate::uri::destination_of(callee).unwrap_or_else(|| rsipstack::transport::SipAddr {
                r#type: Some(Transport::Udp),
                addr: callee.host_with_port.clone(),
            });
        let transport = target.r#type.unwrap_or(Transport::Udp);
        let peer = without_params(callee);
        let unreachable = |e: String| {
            CommandError::rejected(format!("cannot reach {peer} over {transport}: {e}"))
        };
        let layer = &self.endpoint.transport_layer;
        match tokio::time::timeout(CONNECT_TIMEOUT, layer.lookup(&target, None)).await {
            Ok(Ok((_, resolved))) => Ok(resolved.get_socketaddr().ok()),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Ends a call whose INVITE failed. A 200 OK is handled as the
    /// dialog's `Confirmed` state instead, which arrives in order after
    /// `Early`, so `sip.call.ringing` always precedes `sip.call.answered`.
    async fn on_invite_outcome(
        self: &Arc<Self>,
        id: &str,
        outcome: InviteOutcome,
        withheld: Option<&str>,
    ) {
        if let Some((reason, code)) = invite_failure(&format!("call {id}"), outcome, withheld) {
            self.end_call(id, reason.as_str(), code).await;
        }
    }
}

/// What rsipstack's INVITE task ends with.
pub type InviteOutcome =
    Result<rsipstack::dialog::invitation::InviteAsyncResult, tokio::task::JoinError>;

/// Why an INVITE of ours (`what`, for the log: "call …", "session …")
/// failed, and the status code: `None` when it was answered 2xx. A
/// transport error or no answer is `failed`, a refusal `rejected` with its
/// code; `withheld` says why a challenge went unanswered, when the
/// password was kept from this callee (then `failed` with 401 or 407).
pub fn invite_failure(
    what: &str,
    outcome: InviteOutcome,
    withheld: Option<&str>,
) -> Option<(EndReason, Option<u16>)> {
    let response = match outcome {
        Ok(Ok((_, response))) => response,
        Ok(Err(e)) => {
            log::info!("{what} failed: {e}");
            return Some((EndReason::Failed, None));
        }
        Err(e) => {
            log::warn!("{what}: INVITE task ended: {e}");
            return Some((EndReason::Failed, None));
        }
    };
    let Some(response) = response else {
        return Some((EndReason::Failed, Some(408)));
    };
    let code = response.status_code.code();
    if let (401 | 407, Some(why)) = (code, withheld) {
        log::warn!("{what} failed: {why}");
        return Some((EndReason::Failed, Some(code)));
    }
    if response.status_code.kind() != StatusCodeKind::Successful {
        log::info!("{what} refused: {}", response.status_code);
        return Some((EndReason::Rejected, Some(code)));
    }
    None
}
