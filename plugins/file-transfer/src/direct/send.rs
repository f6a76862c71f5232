//! The user's file to one SIP peer over MSRP (`offer_as = "msrp"`): the
//! file is on the user's XMPP server, so it is fetched first (the HTTP
//! download: streamed to a part file, size capped, SHA-256 taken), then
//! offered in a SIP session of its own (RFC 5547 push: `sendonly`, the
//! file-selector with name, type, size, SHA-1 and SHA-256, a transfer id,
//! `a=setup:actpass` on a port of its own, or through our relay when one
//! is set: `relayed`), and sent once the peer answers. The part file goes whatever happens.

use std::sync::Arc;
use std::time::Duration;

use tandem_sdk::commands::sip_session::Offer;
use tandem_sdk::events::sip::EndReason;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::error::DirectError;
use super::receive::{origin, CONNECT_TIMEOUT, NO_PORT};
use super::relayed;
use crate::context::Context;
use crate::described::Described;
use crate::error::TransferError;
use crate::fetched::Fetched;
use crate::http::download::{self, Fetch};
use crate::msrp::connection::{Reader, Writer};
use crate::msrp::relay::Binding;
use crate::msrp::sdp::{Direction, FileSelector, FileStream, Setup};
use crate::msrp::sender::{send_file, Outgoing};
use crate::msrp::uri::MsrpUri;
use crate::offers::Entry;
use crate::sessions::{self, State};

/// How long a person has to take the file (the SIP plugin may give up
/// sooner; then its `sip.session.ended` says so).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(180);

/// How sending to one peer went.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The peer has the whole file (its success report said so).
    Sent,
    /// The peer takes no file sessions (488, 415, 606, …, or no SIP
    /// plugin that offers sessions): try a link instead.
    Unsupported,
    /// It did not get through; why, in plain words.
    Failed(String),
}

/// Sends `file` to `peer`; `entry` is its line in the table (progress,
/// cancel).
pub async fn send(ctx: &Arc<Context>, entry: &Entry, peer: &str, file: &Described) -> Outcome {
    let part = download::part_path(&ctx.dir, &entry.id);
    let outcome = fetch_and_send(ctx, entry, peer, file, &part).await;
    let _ = tokio::fs::remove_file(&part).await;
    match outcome {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn fetch_and_send(
    ctx: &Arc<Context>,
    entry: &Entry,
    peer: &str,
    file: &Described,
    part: &std::path::Path,
) -> Result<Outcome, TransferError> {
    tokio::fs::create_dir_all(&ctx.dir)
        .await
        .map_err(|source| TransferError::Disk {
            dir: ctx.dir.clone(),
            source,
        })?;
    let fetched = download::fetch(
        Fetch {
            url: file.url.clone(),
            offered: file.size,
            max_size: ctx.max_size,
            part,
            progress: Default::default(),
        },
        &ctx.tls,
    )
    .await?;
    if file
        .sha256
        .as_ref()
        .is_some_and(|h| !h.eq_ignore_ascii_case(&fetched.sha256))
    {
        return Err(DirectError::Sha256Mismatch.into());
    }
    let sha1 = super::sha1_of(part).await.map_err(DirectError::Disk)?;
    // Behind a relay, its login comes first: its path goes in the offer.
    let (way, local, sdp) = match relayed::bind(ctx).await? {
        Some(binding) => {
            let local = binding.local.clone();
            let sdp = offer_sdp(file, &fetched, sha1, binding.path(), NO_PORT)
                .to_sdp(local.host.trim_matches(['[', ']']), origin());
            (Way::Relay(Box::new(binding)), local, sdp)
        }
        None => {
            let host = super::address::sip_host(peer).unwrap_or("127.0.0.1");
            let ip = super::address::toward(ctx.msrp_address, host).await?;
            let listener = TcpListener::bind((ip, 0))
                .await
                .map_err(DirectError::Listen)?;
            let port = listener.local_addr().map_err(DirectError::Listen)?.port();
            let local = MsrpUri::tcp(&super::address::uri_host(ip), port, &super::token(16));
            let sdp = offer_sdp(file, &fetched, sha1, vec![local.clone()], port)
                .to_sdp(&ip.to_string(), origin());
            (Way::Listen(listener), local, sdp)
        }
    };

    let (stop_tx, stop) = watch::channel(false);
    ctx.offers().set_stop(&entry.id, Arc::new(stop_tx));
    // Inside the call with the peer when there is one (decision 0072);
    // refused there, or no call, in a session of its own.
    let mut offered = offer(ctx, peer, &sdp, true).await;
    if let Offered::Refused { in_call: true, .. } = offered {
        ctx.host.info(&format!(
            "{peer} did not take the file inside the call: offering it on its own"
        ));
        offered = offer(ctx, peer, &sdp, false).await;
    }
    let (session, mut state, answer) = match offered {
        Offered::Answered {
            session,
            state,
            sdp,
        } => (session, state, sdp),
        Offered::Refused { outcome, .. } => return Ok(outcome),
    };
    let result = run(
        ctx, entry, peer, file, part, &mut state, way, local, stop, answer,
    )
    .await;
    super::end(&ctx.host, &session).await;
    ctx.sessions.forget(&session);
    result
}

/// How one offer went.
enum Offered {
    /// Answered: the session, its events, the answer's SDP.
    Answered {
        session: String,
        state: watch::Receiver<State>,
        sdp: String,
    },
    /// Not taken (the session is over); `in_call` when it was offered
    /// inside a call.
    Refused { outcome: Outcome, in_call: bool },
}

/// Offers `sdp` to `peer` (inside the call with them, if `in_call` and
/// there is one) and waits for the answer.
async fn offer(ctx: &Context, peer: &str, sdp: &str, in_call: bool) -> Offered {
    let refused = |outcome| Offered::Refused {
        outcome,
        in_call: false,
    };
    let reply = match ctx
        .host
        .call(&Offer {
            to: peer.to_owned(),
            sdp: sdp.to_owned(),
            in_call,
        })
        .await
    {
        Ok(r) => r,
        Err(e) if e.kind == tandem_sdk::ErrorKind::UnknownCommand => {
            return refused(Outcome::Unsupported)
        }
        Err(e) => return refused(Outcome::Failed(e.message)),
    };
    let mut state = ctx.sessions.watch(&reply.session);
    match answer(peer, &mut state).await {
        Ok(sdp) => Offered::Answered {
            session: reply.session,
            state,
            sdp,
        },
        Err((outcome, code)) => {
            super::end(&ctx.host, &reply.session).await;
            ctx.sessions.forget(&reply.session);
            // A person's "no" stands; anything else inside a call (the
            // stream at port 0, a re-INVITE refused, no answer in time)
            // is worth a session of its own.
            let declined = matches!(code, Some(603 | 600 | 486));
            Offered::Refused {
                outcome,
                in_call: reply.call.is_some() && !declined,
            }
        }
    }
}

/// The peer's answer, or what its refusal means (and its code).
async fn answer(
    peer: &str,
    state: &mut watch::Receiver<State>,
) -> Result<String, (Outcome, Option<u16>)> {
    let answered = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match &*state.borrow_and_update() {
                State::Answered(sdp) => return Ok(sdp.clone()),
                State::Ended { reason, code } => return Err((reason.clone(), *code)),
                State::Waiting => {}
            }
            if state.changed().await.is_err() {
                return Err((EndReason::Failed, None));
            }
        }
    })
    .await;
    match answered {
        Err(_) => Err((
            Outcome::Failed(format!(
                "{peer} did not answer within {} minutes",
                ANSWER_TIMEOUT.as_secs() / 60
            )),
            None,
        )),
        Ok(Err((reason, code))) => Err((refused(peer, reason, code), code)),
        Ok(Ok(sdp)) => Ok(sdp),
    }
}

/// How the session's connection comes: to a port of ours, or down the
/// connection of our relay login (we never listen behind a relay).
enum Way {
    Listen(TcpListener),
    Relay(Box<Binding>),
}

/// The offer's stream: the file as RFC 5547 describes it.
fn offer_sdp(
    file: &Described,
    fetched: &Fetched,
    sha1: String,
    path: Vec<MsrpUri>,
    port: u16,
) -> FileStream {
    FileStream {
        path,
        direction: Direction::SendOnly,
        setup: Some(Setup::ActPass),
        selector: FileSelector {
            name: Some(file.name.clone()),
            media_type: Some(file.media_type.clone()),
            size: Some(fetched.size),
            hashes: vec![
                ("sha-1".into(), sha1),
                ("sha-256".into(), fetched.sha256.clone()),
            ],
        },
        transfer_id: Some(super::token(32)),
        port,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ctx: &Context,
    entry: &Entry,
    peer: &str,
    file: &Described,
    part: &std::path::Path,
    state: &mut watch::Receiver<State>,
    way: Way,
    local: MsrpUri,
    stop: watch::Receiver<bool>,
    sdp: String,
) -> Result<Outcome, TransferError> {
    let answer = FileStream::parse(&sdp).map_err(|e| DirectError::Answer(e.to_string()))?;
    if answer.direction == Direction::SendOnly {
        return Err(DirectError::Answer("it would send, not receive".into()).into());
    }
    let we_connect = answer.we_connect(false);
    let relayed = matches!(way, Way::Relay(_)) || relayed::peer_is_relayed(&answer.path);
    let outgoing = |to_path: Vec<MsrpUri>| Outgoing {
        local: local.clone(),
        to_path,
        file: part,
        media_type: file.media_type.clone(),
        chunk_size: relayed::chunk_size(ctx, relayed),
        progress: entry.received.clone(),
        cancel: stop.clone(),
        await_bind: !we_connect,
    };
    let transfer = async {
        match way {
            Way::Relay(binding) => {
                let to_path = binding.to_path(&answer.path);
                let Binding {
                    mut reader,
                    mut writer,
                    ..
                } = *binding;
                send_on(&mut reader, &mut writer, outgoing(to_path)).await
            }
            Way::Listen(listener) => {
                let tcp = if we_connect {
                    super::receive::connect(&answer.path[0]).await?
                } else {
                    tokio::time::timeout(CONNECT_TIMEOUT, listener.accept())
                        .await
                        .map_err(|_| DirectError::NoConnection(CONNECT_TIMEOUT.as_secs()))?
                        .map_err(DirectError::Listen)?
                        .0
                };
                drop(listener);
                let _ = tcp.set_nodelay(true);
                let (r, w) = tcp.into_split();
                let (mut reader, mut writer) = (Reader::new(r), Writer::new(w));
                send_on(&mut reader, &mut writer, outgoing(answer.path.clone())).await
            }
        }
    };
    tokio::select! {
        biased;
        sent = transfer => sent.map(|_| Outcome::Sent),
        _ = sessions::ended(state) => {
            let got = entry.received.load(std::sync::atomic::Ordering::Relaxed);
            Ok(Outcome::Failed(format!("{peer} stopped the transfer after {got} bytes")))
        }
    }
}

/// Sends on one connection, then closes our side of it.
async fn send_on<R, W>(
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    out: Outgoing<'_>,
) -> Result<u64, TransferError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let sent = send_file(reader, writer, out).await;
    writer.shutdown().await;
    sent.map_err(TransferError::from)
}

/// The peer's "no", in words: a person declining is not a failure of
/// the network, and a peer that takes no such session gets a link.
fn refused(peer: &str, reason: EndReason, code: Option<u16>) -> Outcome {
    match code {
        Some(488 | 415 | 606 | 501 | 405 | 420) => Outcome::Unsupported,
        None if reason == EndReason::Rejected => Outcome::Failed(format!("{peer} declined")),
        Some(code) => Outcome::Failed(
            refusal_in_words(peer, code).unwrap_or_else(|| format!("{peer} answered {code}")),
        ),
        None => Outcome::Failed(format!("{peer} could not be reached")),
    }
}

/// A SIP refusal a person understands without the code: declined (603,
/// 600, 486) or not reachable just now (404, 480, 408, 410). Shared with
/// the offers by MESSAGE, so a peer's "no" reads the same however the
/// file was offered.
pub fn refusal_in_words(peer: &str, code: u16) -> Option<String> {
    match code {
        603 | 600 | 486 => Some(format!("{peer} declined")),
        404 | 480 | 408 | 410 => Some(format!("{peer} could not be reached just now")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_no_is_said_plainly() {
        let bob = "sip:bob@x";
        assert_eq!(
            refused(bob, EndReason::Rejected, Some(603)),
            Outcome::Failed("sip:bob@x declined".into())
        );
        assert_eq!(
            refused(bob, EndReason::Rejected, Some(486)),
            Outcome::Failed("sip:bob@x declined".into())
        );
        assert_eq!(
            refused(bob, EndReason::Rejected, Some(488)),
            Outcome::Unsupported
        );
        assert_eq!(
            refused(bob, EndReason::Failed, Some(408)),
            Outcome::Failed("sip:bob@x could not be reached just now".into())
        );
    }
}
