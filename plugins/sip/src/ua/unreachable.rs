//! What the user agent does with the transport's ICMP reports: end the
//! calls waiting on a refused address, and let a REGISTER or MESSAGE wait
//! on its own ([`Agent::watch`]). The reports themselves are
//! `transport/icmp.rs`'s.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use rsipstack::sip::transport::Transport;
use rsipstack::sip::Uri;
use rsipstack::transport::SipAddr;
use tandem_sdk::tokio;
use tokio::sync::mpsc;

use super::agent::Agent;
use super::calls::CallState;
use crate::transport::icmp::{Unreachable, Watch};

/// How long looking up where a request goes may delay it (as a call's
/// lookup, `outgoing.rs`); past it the request goes out unwatched.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// Hands each report to the agent for as long as it lives.
pub async fn serve(agent: Weak<Agent>, mut reports: mpsc::Receiver<Unreachable>) {
    while let Some(report) = reports.recv().await {
        let Some(agent) = agent.upgrade() else { return };
        agent.on_unreachable(&report).await;
    }
}

impl Agent {
    /// Starts watching for ICMP reports about where a request to `uri`
    /// goes, just before it is sent.
    pub async fn watch(&self, uri: &Uri) -> Watch {
        let watched = self.udp_destination(uri).await;
        Watch::new(self.unreachable.subscribe(), watched)
    }

    /// Where a request to `uri` goes when it goes over UDP: looked up as
    /// rsipstack's transaction does it (RFC 3263 for a domain, the same
    /// resolver), as a call's INVITE is (`outgoing.rs`). `None` for TCP and
    /// TLS, whose connect errors fail the request already, and when the
    /// lookup fails or hangs: the request then says why, or ends by its
    /// timer.
    async fn udp_destination(&self, uri: &Uri) -> Option<SocketAddr> {
        if !matches!(crate::uri::transport_of(uri), None | Some(Transport::Udp)) {
            return None;
        }
        let target = SipAddr::try_from(uri).ok()?;
        let layer = &self.endpoint.transport_layer;
        match tokio::time::timeout(LOOKUP_TIMEOUT, layer.lookup(&target, None)).await {
            Ok(Ok((_, resolved))) => resolved.get_socketaddr().ok(),
            Ok(Err(e)) => {
                log::debug!("{uri} not looked up: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Ends the outgoing calls that wait for a first answer from the
    /// refused address: RFC 3261 §8.1.3.1, a transport error is a 503.
    /// A call that heard anything from its callee has a live peer there and
    /// is left alone. The report also goes to [`Agent::unreachable`]'s
    /// subscribers (a REGISTER waiting on that address); none is no error.
    pub async fn on_unreachable(self: &Arc<Self>, report: &Unreachable) {
        let _ = self.unreachable.send(report.clone());
        let ids: Vec<String> = self.calls().ids_where(|call| {
            call.state == CallState::Calling
                && !call.announced_ringing
                && call.destination.is_some_and(|d| report.concerns(d))
        });
        if ids.is_empty() {
            log::debug!("{}", report.reason());
        }
        for id in ids {
            log::warn!("call {id} failed: {}", report.reason());
            self.end_call(&id, "failed", Some(503)).await;
        }
    }
}
