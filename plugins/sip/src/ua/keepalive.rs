//! Keeping the way to the registrar open while nothing else is sent.
//!
//! Home routers drop an idle UDP mapping after 30 to 180 s, while a
//! registration is refreshed every few minutes (75 % of 600 s): between the
//! two, calls to us die at the NAT. So at `keepalive_secs` (25 s by default
//! toward a registrar outside the local network) the plugin sends:
//! - over UDP an OPTIONS to the registrar, whose answer also shows again
//!   where the registrar sees us (`received`/`rport`; a NAT that rebound
//!   is then told to calls at once). RFC 5626 §4.4.2 prefers STUN, which
//!   needs a registrar that multiplexes it on its SIP port (`outbound`);
//!   every registrar answers OPTIONS.
//! - over TCP and TLS RFC 5626 §4.4.1's CRLF CRLF on the connection the
//!   REGISTER used, which the registrar answers with a CRLF.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::transport::Transport;
use rsipstack::sip::{Method, SipMessage, StatusCodeKind, Uri};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::connection::KEEPALIVE_REQUEST;
use rsipstack::transport::stream::StreamConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tandem_sdk::tokio;
use tokio_util::sync::CancellationToken;

use crate::transport::public::{on_local_network, Seen};
use crate::ua::agent::Agent;

/// `keepalive_secs` when unset.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(25);

/// When to send keep-alives, from `keepalive_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `keepalive_secs = 0`.
    Off,
    /// `keepalive_secs = n`: every n seconds, wherever the registrar is.
    Every(Duration),
    /// Unset: every [`DEFAULT_INTERVAL`], skipped while the registrar's
    /// address is on the local network (no NAT can be between).
    Auto,
}

impl Schedule {
    pub fn from_setting(keepalive_secs: Option<u64>) -> Schedule {
        match keepalive_secs {
            None => Schedule::Auto,
            Some(0) => Schedule::Off,
            Some(n) => Schedule::Every(Duration::from_secs(n)),
        }
    }

    fn interval(self) -> Option<Duration> {
        match self {
            Schedule::Off => None,
            Schedule::Every(every) => Some(every),
            Schedule::Auto => Some(DEFAULT_INTERVAL),
        }
    }

    /// Whether a keep-alive goes to a registrar at `ip`.
    pub fn pings(self, ip: IpAddr) -> bool {
        match self {
            Schedule::Off => false,
            Schedule::Every(_) => true,
            Schedule::Auto => !on_local_network(ip.to_canonical()),
        }
    }
}

/// Why a keep-alive could not be sent or was not answered.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error("cannot reach the registrar: {0}")]
    Reach(rsipstack::Error),
    #[error("cannot send: {0}")]
    Send(rsipstack::Error),
    #[error("no answer to OPTIONS")]
    NoAnswer,
    #[error("the SIP stack has no local address")]
    NoAddress,
    #[error("no connection of a stream transport to the registrar")]
    NotAStream,
}

impl Agent {
    /// Sends a keep-alive to `server` every interval `schedule` says, while
    /// registered, until `stop`. A failure is logged when it starts and
    /// when it ends. A failure, or an answer showing the registrar sees us
    /// at another address (a NAT that lost our mapping and made a new
    /// one), rings `flow_failed`: the registration REGISTERs again at once
    /// (RFC 5626 §4.4.1), so the registrar has the way in that works now.
    pub async fn keep_alive(
        self: Arc<Self>,
        server: Uri,
        schedule: Schedule,
        stop: CancellationToken,
    ) {
        let Some(every) = schedule.interval() else {
            return;
        };
        let transport = crate::uri::transport_of(&server).unwrap_or(Transport::Udp);
        let target = SipAddr {
            r#type: Some(transport),
            addr: server.host_with_port.clone(),
        };
        // A registrar that stays away is told of once, not every interval.
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if !self.is_registered() {
                continue;
            }
            let ping = self.ping(&server, &target, schedule, every);
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = ping => outcome,
            };
            match outcome {
                Ok(_) if failing => {
                    failing = false;
                    log::info!("keep-alives to {server} ({transport}) go through again");
                }
                Ok(true) => log::debug!("keep-alive to {server} ({transport})"),
                Ok(false) => {}
                Err(e) if !failing => {
                    failing = true;
                    log::info!("keep-alive to {server} ({transport}) failed: {e}");
                    self.flow_failed.notify_one();
                }
                Err(e) => log::debug!("keep-alive to {server} ({transport}) failed: {e}"),
            }
        }
    }

    /// One keep-alive, answered within `wait`; `Ok(false)` when the
    /// schedule skips this registrar.
    async fn ping(
        &self,
        server: &Uri,
        target: &SipAddr,
        schedule: Schedule,
        wait: Duration,
    ) -> Result<bool, PingError> {
        let layer = &self.endpoint.transport_layer;
        let (connection, destination) =
            layer.lookup(target, None).await.map_err(PingError::Reach)?;
        let ip = destination
            .get_socketaddr()
            .map(|a| a.ip())
            .map_err(PingError::Reach)?;
        if !schedule.pings(ip) {
            return Ok(false);
        }
        match connection {
            SipConnection::Udp(_) => self.options(server, wait).await?,
            SipConnection::Tcp(stream) => stream
                .send_raw(KEEPALIVE_REQUEST)
                .await
                .map_err(PingError::Send)?,
            SipConnection::Tls(stream) => stream
                .send_raw(KEEPALIVE_REQUEST)
                .await
                .map_err(PingError::Send)?,
            _ => return Err(PingError::NotAStream),
        }
        Ok(true)
    }

    /// An OPTIONS to the registrar; any final answer will do (a challenge
    /// too: the NAT saw traffic both ways). Its Via teaches where the
    /// registrar sees us now.
    async fn options(&self, server: &Uri, wait: Duration) -> Result<(), PingError> {
        let (request, _) = self
            .out_of_dialog(Method::Options, server.clone())
            .ok_or(PingError::NoAddress)?;
        let key = TransactionKey::from_request(&request, TransactionRole::Client)
            .map_err(PingError::Send)?;
        let mut tx = Transaction::new_client(key, request, self.endpoint.clone(), None);
        tx.send().await.map_err(PingError::Send)?;
        let answer = async {
            while let Some(message) = tx.receive().await {
                if let SipMessage::Response(response) = message {
                    if response.status_code.kind() != StatusCodeKind::Provisional {
                        return Some(response);
                    }
                }
            }
            None
        };
        let response = tokio::time::timeout(wait, answer)
            .await
            .ok()
            .flatten()
            .ok_or(PingError::NoAnswer)?;
        let seen = response
            .via_header()
            .ok()
            .and_then(|via| SipConnection::parse_target_from_via(via).ok())
            .and_then(|(transport, seen)| {
                Some(Seen {
                    ip: crate::uri::host_ip(&seen.host)?,
                    port: seen.port.map(u16::from),
                    transport,
                })
            });
        if self.learned_public_address(seen) {
            self.flow_failed.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_pings_every_25_s_beyond_the_local_network_only() {
        let auto = Schedule::from_setting(None);
        assert_eq!(auto.interval(), Some(Duration::from_secs(25)));
        assert!(auto.pings("198.51.100.1".parse().unwrap()));
        assert!(!auto.pings("127.0.0.1".parse().unwrap()));
        assert!(!auto.pings("192.168.1.1".parse().unwrap()));
    }

    #[test]
    fn zero_is_off_and_a_number_pings_anywhere() {
        assert_eq!(Schedule::from_setting(Some(0)).interval(), None);
        assert!(!Schedule::from_setting(Some(0)).pings("198.51.100.1".parse().unwrap()));
        let every = Schedule::from_setting(Some(5));
        assert_eq!(every.interval(), Some(Duration::from_secs(5)));
        assert!(every.pings("127.0.0.1".parse().unwrap()));
    }
}
