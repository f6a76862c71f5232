//! Requests from the network: new calls, in-dialog requests handed to
//! their dialog, MESSAGE, OPTIONS, and a clear answer for everything else.
//! A new INVITE or MESSAGE is taken only from a source `accept_from`
//! admits (403 otherwise), and a new call only while fewer than
//! `max_ringing` ring (486 otherwise): neither becomes a call or an event.

use std::sync::Arc;

use rsipstack::dialog::dialog::Dialog;
use rsipstack::sip::headers::ToTypedHeader;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::TransactionReceiver;
use tandem_sdk::events::sip::{CallIncoming, Direction, Message};
use tandem_sdk::tokio;

use super::body::{self, UnknownCharset};
use super::checks;
use super::identity;
use super::sessions;
use super::taking::{self, Taken, RETRY_AFTER_SECS};
use super::uas::{caller, refuse, reply, ring, server_dialog, sip_call_id, without_params};
use crate::config::encryption::Encryption;
use crate::guard::message_rate::Source;
use crate::guard::origin::Origin;
use crate::guard::refusals::Refusal;
use crate::media::sdp;
use crate::ua::agent::{Agent, ACCEPTED, ALLOWED};
use crate::ua::calls::{new_call_id, Call};

/// Largest MESSAGE body passed on to rules and plugins (RFC 3428 §7 asks
/// for 1300 bytes on UDP; TCP may carry more, within reason).
pub const MAX_MESSAGE_BODY: usize = 64 * 1024;

pub async fn serve(agent: Arc<Agent>, mut incoming: TransactionReceiver) {
    while let Some(tx) = incoming.recv().await {
        let agent = agent.clone();
        tokio::spawn(async move { dispatch(agent, tx).await });
    }
}

async fn dispatch(agent: Arc<Agent>, mut tx: Transaction) {
    let method = tx.original.method;
    let to_tag = tx
        .original
        .to_header()
        .ok()
        .and_then(|to| to.tag().ok().flatten());
    if to_tag.is_some() || matches!(method, Method::Ack) {
        if let Some(Dialog::Invite(mut dialog)) = agent.dialogs.match_dialog(&tx) {
            if let Err(e) = dialog.handle(&mut tx).await {
                log::debug!("in-dialog {method}: {e}");
            }
            return;
        }
        if matches!(method, Method::Ack) {
            return; // An ACK is never answered (RFC 3261 §17.2.3).
        }
        if !matches!(method, Method::Options | Method::Message) {
            reply(&mut tx, StatusCode::CallTransactionDoesNotExist, vec![]).await;
            return;
        }
    }
    // After §8.2.1's method check (405, below), for the methods served.
    let served = matches!(method, Method::Invite | Method::Options | Method::Message);
    if let Some((status, headers)) = served.then(|| checks::refusal(&tx.original)).flatten() {
        log::debug!("{method} answered {status} (RFC 3261 §8.2)");
        refuse(&agent, tx, status, headers).await;
        return;
    }
    match method {
        Method::Invite => on_invite(&agent, tx).await,
        Method::Options => {
            let headers = capabilities();
            reply(&mut tx, StatusCode::OK, headers).await;
        }
        Method::Message => on_message(&agent, tx).await,
        Method::Bye | Method::Cancel => {
            reply(&mut tx, StatusCode::CallTransactionDoesNotExist, vec![]).await
        }
        _ => {
            let allow = vec![Header::Other("Allow".into(), ALLOWED.into())];
            reply(&mut tx, StatusCode::MethodNotAllowed, allow).await;
        }
    }
}

/// Allow and Accept: what OPTIONS tells the peer. No `Supported`: Tandem
/// implements no option tag (it used to claim `replaces` without doing it).
fn capabilities() -> Vec<Header> {
    vec![
        Header::Other("Allow".into(), ALLOWED.into()),
        Header::Other("Accept".into(), ACCEPTED.into()),
    ]
}

/// The request's origin when `accept_from` admits its source; otherwise
/// it is answered 403 Forbidden, counted, and `None` (once its transaction
/// has ended).
async fn admitted(agent: &Agent, tx: Transaction) -> Option<(Origin, Transaction)> {
    let origin = Origin::of(&tx);
    match origin {
        Some(origin) if agent.gate.admits(origin.addr.ip()) => return Some((origin, tx)),
        _ => {}
    }
    let source = origin.map_or_else(|| "an unknown address".to_owned(), |o| o.to_string());
    agent.refusals.count(
        Refusal::Forbidden,
        format_args!(
            "refused {} from {source} with 403 Forbidden: its address is not in accept_from",
            tx.original.method
        ),
    );
    refuse(agent, tx, StatusCode::Forbidden, vec![]).await;
    None
}

/// A new INVITE: check the offer, ring, tell the rules. Answering is a
/// command (`sip.answer`), from a rule or the user.
async fn on_invite(agent: &Arc<Agent>, tx: Transaction) {
    let Some((origin, tx)) = admitted(agent, tx).await else {
        return;
    };
    if sessions::is_session_offer(&tx.original.body) {
        // No live audio but another live stream: a session, not a call.
        super::session_incoming::on_invite(agent, origin, tx).await;
        return;
    }
    let offer = tx.original.body.clone();
    // Where our RTP will go: the offer's address, else the caller's.
    let mut peer_media = origin.addr.ip();
    let encryption = Encryption::for_call(agent.config.media_encryption, origin.transport == "tls");
    if !offer.is_empty() {
        match sdp::parse(&offer).and_then(|s| s.negotiate(encryption, &agent.media.codecs)) {
            Ok(agreed) if !agreed.remote_ip.is_unspecified() => peer_media = agreed.remote_ip,
            Ok(_) => {}
            Err(e) => {
                log::info!("refusing a call: {e}");
                let code = match e {
                    sdp::SdpError::NoCommonCodec(..)
                    | sdp::SdpError::NoAudio
                    | sdp::SdpError::EncryptionRequired
                    | sdp::SdpError::EncryptionRefused(_) => StatusCode::NotAcceptableHere,
                    _ => StatusCode::BadRequest,
                };
                refuse(agent, tx, code, vec![]).await;
                return;
            }
        }
    }
    let sip_call_id = sip_call_id(&tx.original);
    let (peer, display_name) = caller(&tx.original);
    let id = new_call_id();
    let mut call = Call::new(id.clone(), peer.clone(), Direction::Incoming, sip_call_id);
    call.display_name = display_name.clone();
    call.encryption = encryption;
    call.peer_session_id = identity::peer_session_id(&tx.original);
    let peer_impp = identity::claimed_impp(&tx.original);
    let invite_claim = identity::claimed_invite(&tx.original);
    call.offer = (!offer.is_empty()).then_some(offer);
    call.media_address = Some(agent.media_address_for(Some(peer_media), Some(origin.addr.ip())));
    // Before the dialog: a refused INVITE costs no dialog, timer or event.
    let ringing = agent.calls().admit_ringing(call, agent.config.max_ringing);
    if let Err(busy) = ringing {
        agent.refusals.count(
            Refusal::Busy,
            format_args!("refused a call from {peer} ({origin}) with 486 Busy Here: {busy}"),
        );
        refuse(agent, tx, StatusCode::BusyHere, vec![]).await;
        return;
    }
    let dialog = match server_dialog(agent, &tx, &origin) {
        Ok(dialog) => dialog,
        Err(e) => {
            agent.calls().remove(&id);
            log::warn!("cannot take call from {peer}: {e}");
            refuse(agent, tx, StatusCode::ServerInternalError, vec![]).await;
            return;
        }
    };
    if let Some(call) = agent.calls().get_mut(&id) {
        call.dialog = Some(dialog.clone());
    }
    ring(&dialog, tx);
    log::info!("incoming call {id} from {peer} ({origin})");
    agent.host.publish(&CallIncoming {
        call: id.clone(),
        peer,
        display_name,
        source: origin.source(),
        transport: origin.transport,
        peer_impp,
        vouched: agent.gate.is_registrar(origin.addr.ip()),
        invite_claim,
    });
    agent.clone().ring_timeout(id);
}

/// Whether the MESSAGE's source is within `message_rate`: a sender the
/// registrar vouches for counts by its URI, anyone else by address. Over
/// it: counted, and the seconds to wait (486 Busy Here, not 503: through a
/// proxy a 503 would mark Tandem unavailable for every sender, RFC 3263
/// §4.3, where only this one must wait).
fn within_rate(agent: &Agent, tx: &Transaction, origin: &Origin) -> Result<(), u32> {
    let source = if agent.gate.is_registrar(origin.addr.ip()) {
        let from = tx.original.from_header().ok().and_then(|f| f.uri().ok());
        match from {
            Some(uri) => Source::Sender(without_params(&uri)),
            None => Source::Address(origin.addr.ip()),
        }
    } else {
        Source::Address(origin.addr.ip())
    };
    agent
        .message_rate
        .take(source.clone(), std::time::Instant::now())
        .inspect_err(|retry| {
            agent.refusals.count(
                Refusal::Flood,
                format_args!(
                    "answered a MESSAGE from {origin} 486 Busy Here, retry in {retry} s: \
                     more than message_rate allows from {source:?}"
                ),
            );
        })
}

async fn on_message(agent: &Arc<Agent>, tx: Transaction) {
    let Some((origin, mut tx)) = admitted(agent, tx).await else {
        return;
    };
    if let Err(retry) = within_rate(agent, &tx, &origin) {
        let retry = Header::Other("Retry-After".into(), retry.to_string());
        reply(&mut tx, StatusCode::BusyHere, vec![retry]).await;
        return;
    }
    let bytes = &tx.original.body;
    if bytes.len() > MAX_MESSAGE_BODY {
        reply(&mut tx, StatusCode::RequestEntityTooLarge, vec![]).await;
        return;
    }
    let content_type = body::content_type(&tx.original).unwrap_or_else(|| "text/plain".into());
    // Byte-exact: a body that is not UTF-8 travels in base64; text in a
    // charset Tandem cannot read is refused rather than shown garbled.
    let body = match body::received(&content_type, bytes) {
        Ok(body) => body,
        Err(UnknownCharset(charset)) => {
            log::info!(
                "MESSAGE in charset {charset} refused with 415 (Tandem reads UTF-8 and ISO-8859-1)"
            );
            let accept = Header::Other("Accept".into(), body::ACCEPT_TEXT.into());
            reply(&mut tx, StatusCode::UnsupportedMediaType, vec![accept]).await;
            return;
        }
    };
    let (from, display_name) = match tx.original.from_header().map(|f| f.typed()) {
        Ok(Ok(from)) => (
            without_params(&from.uri),
            from.display_name.filter(|d| !d.is_empty()),
        ),
        _ => (String::new(), None),
    };
    let to = tx
        .original
        .to_header()
        .ok()
        .and_then(|t| t.uri().ok())
        .map(|u| without_params(&u))
        .unwrap_or_default();
    let message = Message {
        from,
        to,
        content_type,
        body: body.text,
        source: origin.source(),
        transport: origin.transport,
        body_base64: body.base64,
        call: None,
        display_name,
        vouched: agent.gate.is_registrar(origin.addr.ip()),
    };
    // 200 only once the relay to the user has it (`taking.rs`).
    match taking::offer(&agent.host, &message).await {
        Taken::Kept | Taken::NoRelay => {
            reply(&mut tx, StatusCode::OK, vec![]).await;
            agent.host.publish(&message);
        }
        Taken::Refused(why) => {
            agent.refusals.count(
                Refusal::Unavailable,
                format_args!(
                    "answered a MESSAGE from {} ({}) 503, retry in {RETRY_AFTER_SECS} s: {why}",
                    message.from, message.source
                ),
            );
            let retry = Header::Other("Retry-After".into(), RETRY_AFTER_SECS.to_string());
            reply(&mut tx, StatusCode::ServiceUnavailable, vec![retry]).await;
        }
        Taken::SwitchedOff(why) => {
            agent.refusals.count(
                Refusal::Unavailable,
                format_args!(
                    "answered a MESSAGE from {} ({}) 480: {why}",
                    message.from, message.source
                ),
            );
            reply(&mut tx, StatusCode::TemporarilyUnavailable, vec![]).await;
        }
    }
}
