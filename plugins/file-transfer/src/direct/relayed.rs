//! Sessions through the MSRP relay (RFC 4976, docs/decisions/0068), when
//! `msrp_relay` is set: a login per session, made before our SDP is
//! written (its `a=path` is the relay's `Use-Path`, then us), and the
//! session run on that one connection — behind a relay we never listen,
//! whatever `a=setup` says. A relay that cannot be reached or refuses the
//! login fails that transfer with the relay's own plain reason.

use std::sync::atomic::Ordering;

use super::error::DirectError;
use crate::context::Context;
use crate::msrp::relay::{self, Binding};
use crate::msrp::uri::MsrpUri;

/// The most file bytes per chunk when a relay carries the session:
/// Kamailio's msrp module takes at most 10,240 bytes of body per frame.
pub const RELAY_CHUNK_LIMIT: usize = 10 * 1024;

/// Our login at the configured relay, or `None` without one.
pub async fn bind(ctx: &Context) -> Result<Option<Binding>, DirectError> {
    let Some(relay) = &ctx.msrp_relay else {
        return Ok(None);
    };
    relay::bind(relay, Some(ctx.tls.clone()))
        .await
        .map(Some)
        .map_err(DirectError::Relay)
}

/// Whether a peer's path goes through a relay of its own: more than its
/// own URI in it.
pub fn peer_is_relayed(peer_path: &[MsrpUri]) -> bool {
    peer_path.len() > 1
}

/// File bytes per chunk: the configured size, cut to the relay's limit
/// when a relay (ours or the peer's) carries the session — said once in
/// the log, as it is the setting that is overruled.
pub fn chunk_size(ctx: &Context, relayed: bool) -> usize {
    if !relayed || ctx.chunk_size <= RELAY_CHUNK_LIMIT {
        return ctx.chunk_size;
    }
    if !ctx.relay_chunk_said.swap(true, Ordering::Relaxed) {
        ctx.host.info(&format!(
            "msrp_chunk_size {} is more than an MSRP relay takes; {RELAY_CHUNK_LIMIT} bytes are sent per chunk through relays",
            ctx.chunk_size
        ));
    }
    RELAY_CHUNK_LIMIT
}
