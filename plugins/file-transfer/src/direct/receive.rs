//! An accepted file offered in a SIP session: answer the session with
//! our half of the SDP (`FileStream::answer`), open the MSRP connection
//! (or wait for it, as the offer's `a=setup` says; through our relay, when
//! one is set, `relayed`), and receive into the
//! part file through the MSRP receiver, which checks size and SHA-256 as
//! the HTTP download does. A peer that ends the session mid-file, or a
//! cancel, leaves no part file. The session is ended by the caller
//! (`transfer::run`) whatever happens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tandem_sdk::commands::sip_session::Answer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::error::DirectError;
use super::relayed;
use crate::context::Context;
use crate::error::TransferError;
use crate::fetched::Fetched;
use crate::msrp::connection::{Reader, Writer};
use crate::msrp::receiver::{receive_file, Incoming};
use crate::msrp::relay;
use crate::msrp::sdp::FileStream;
use crate::msrp::uri::MsrpUri;
use crate::offer::SessionOffer;
use crate::offers::Entry;
use crate::sessions;

/// How long the other end has to open the connection, once answered.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a cancelled receiver has to stop the sender the protocol's way.
const STOP_GRACE: Duration = Duration::from_secs(4);
/// The port an active side writes in its SDP: it listens on none (RFC
/// 4975 §8.1 lets it be any; 9, "discard", as RFC 4145 suggests).
pub const NO_PORT: u16 = 9;

/// Receives `offer`'s file into `part` (removed on any failure).
pub async fn receive(
    ctx: &Context,
    entry: &Entry,
    offer: &SessionOffer,
    part: &Path,
) -> Result<Fetched, TransferError> {
    let (stop_tx, stop) = watch::channel(false);
    ctx.offers().set_stop(&entry.id, Arc::new(stop_tx));
    let mut state = ctx.sessions.watch(&offer.session);
    let result = tokio::select! {
        biased;
        r = take_file(ctx, entry, offer, part, stop.clone()) => r,
        _ = sessions::ended(&mut state) => {
            let got = entry.received.load(std::sync::atomic::Ordering::Relaxed);
            Err(DirectError::PeerEnded { got }.into())
        }
        _ = cancelled(stop.clone()) => Err(DirectError::Cancelled.into()),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(part).await;
    }
    result
}

/// Resolves a little after the user cancelled: the receiver sees the
/// cancel at the next chunk and answers it 413 (RFC 4975 §7.1), which
/// ends it first; a sender that sends nothing, or a cancel before the
/// connection is up, ends here.
async fn cancelled(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(STOP_GRACE).await;
}

async fn take_file(
    ctx: &Context,
    entry: &Entry,
    offer: &SessionOffer,
    part: &Path,
    stop: watch::Receiver<bool>,
) -> Result<Fetched, TransferError> {
    let stream = &offer.stream;
    let selector = &stream.selector;
    let sha256 = selector.sha256().map(str::to_owned);
    let we_connect = stream.we_connect(true);
    let incoming = |local: MsrpUri, remote: Vec<MsrpUri>| Incoming {
        local,
        remote,
        part,
        offered: selector.size,
        max_size: ctx.max_size,
        sha256: sha256.clone(),
        progress: entry.received.clone(),
        cancel: stop.clone(),
        bind: we_connect,
    };
    let fetched = if let Some(binding) = relayed::bind(ctx).await? {
        // Behind our relay: its path in the answer, the session on its
        // connection, whichever side the offer said connects.
        let local = binding.local.clone();
        let remote = binding.to_path(&stream.path);
        let sdp = stream.answer(binding.path(), NO_PORT);
        answer(ctx, offer, sdp, local.host.trim_matches(['[', ']'])).await?;
        let (mut reader, mut writer) = (binding.reader, binding.writer);
        let fetched = receive_file(&mut reader, &mut writer, incoming(local, remote)).await;
        writer.shutdown().await;
        fetched?
    } else {
        let (io, local) = direct(ctx, offer, we_connect).await?;
        let (r, w) = tokio::io::split(io);
        let (mut reader, mut writer) = (Reader::new(r), Writer::new(w));
        let inc = incoming(local, stream.path.clone());
        let fetched = receive_file(&mut reader, &mut writer, inc).await;
        writer.shutdown().await;
        fetched?
    };
    // The receiver checks SHA-256 as bytes arrive; a peer that offers
    // only SHA-1 (RFC 5547's examples do) is checked here, on the file.
    let sha1 = selector
        .hashes
        .iter()
        .find(|(algo, _)| algo == "sha-1")
        .map(|(_, hex)| hex);
    if let (None, Some(sha1)) = (&sha256, sha1) {
        let got = super::sha1_of(part).await.map_err(DirectError::Disk)?;
        if !got.eq_ignore_ascii_case(sha1) {
            return Err(DirectError::Sha1Mismatch.into());
        }
    }
    Ok(fetched)
}

/// Without a relay of ours: answers, and connects to the offer's first
/// hop or takes its connection, as `a=setup` says. Our URI: a port we
/// listen on, or none when we connect — except toward a peer behind a
/// relay, which we connect to first so that our URI is the connection's
/// own address and port: that is how its relay finds the connection
/// again (RFC 4976 §6); over TLS when that relay is `msrps://`.
async fn direct(
    ctx: &Context,
    offer: &SessionOffer,
    we_connect: bool,
) -> Result<(Box<dyn relay::Stream>, MsrpUri), TransferError> {
    let stream = &offer.stream;
    let first_hop = stream
        .path
        .first()
        .ok_or_else(|| DirectError::Answer("the offer has no path".into()))?;
    if we_connect && relayed::peer_is_relayed(&stream.path) {
        let tcp = connect(first_hop).await?;
        let _ = tcp.set_nodelay(true);
        let at = tcp.local_addr().map_err(DirectError::Listen)?;
        // Over TLS to an msrps:// relay, and our URI says so: the relay
        // finds the connection by scheme, address and port.
        let mut local = MsrpUri::tcp(
            &super::address::uri_host(at.ip()),
            at.port(),
            &super::token(16),
        );
        local.secure = first_hop.secure;
        let io = relay::over(first_hop, tcp, Some(ctx.tls.clone()))
            .await
            .map_err(DirectError::Relay)?;
        let sdp = stream.answer(vec![local.clone()], NO_PORT);
        answer(ctx, offer, sdp, &at.ip().to_string()).await?;
        return Ok((io, local));
    }
    let ip = super::address::toward(ctx.msrp_address, &first_hop.host).await?;
    let listener = if we_connect {
        None
    } else {
        Some(
            TcpListener::bind((ip, 0))
                .await
                .map_err(DirectError::Listen)?,
        )
    };
    let port = match &listener {
        Some(l) => l.local_addr().map_err(DirectError::Listen)?.port(),
        None => NO_PORT,
    };
    let local = MsrpUri::tcp(&super::address::uri_host(ip), port, &super::token(16));
    let sdp = stream.answer(vec![local.clone()], port);
    answer(ctx, offer, sdp, &ip.to_string()).await?;
    let tcp = match listener {
        None => connect(first_hop).await?,
        Some(listener) => {
            tokio::time::timeout(CONNECT_TIMEOUT, listener.accept())
                .await
                .map_err(|_| DirectError::NoConnection(CONNECT_TIMEOUT.as_secs()))?
                .map_err(DirectError::Listen)?
                .0
        }
    };
    let _ = tcp.set_nodelay(true);
    Ok((Box::new(tcp), local))
}

/// Opens the connection to `hop`, the first of the peer's path.
pub async fn connect(hop: &MsrpUri) -> Result<TcpStream, DirectError> {
    let address = hop.socket_address();
    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address))
        .await
        .map_err(|_| DirectError::NoConnection(CONNECT_TIMEOUT.as_secs()))?
        .map_err(|source| DirectError::Connect { address, source })
}

/// Answers the session with `stream`, `address` in its `c=`.
async fn answer(
    ctx: &Context,
    offer: &SessionOffer,
    stream: FileStream,
    address: &str,
) -> Result<(), DirectError> {
    ctx.host
        .call(&Answer {
            session: offer.session.clone(),
            sdp: stream.to_sdp(address, origin()),
        })
        .await
        .map(|_| ())
        .map_err(|e| DirectError::NotAnswered(e.message))
}

/// The `o=` session id and version of an SDP of ours.
pub fn origin() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs())
}
