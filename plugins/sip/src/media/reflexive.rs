//! Where a NAT maps a call's media sockets, asked of a STUN server from
//! the sockets themselves (RFC 8489 Binding), so that the SDP names the
//! address and port the peer's RTP must go to, and the mapping exists
//! before the peer's first packet does (a bare Linux NAT otherwise gives
//! that packet our public port, decision 0053).
//!
//! Asking again at the server's other address (RFC 5780 OTHER-ADDRESS)
//! tells a NAT that maps each destination to a port of its own: then what
//! the server saw is not what the peer will see, and only the peer (or a
//! relay) latching to where our RTP comes from gets audio back to us.
//! That is found out once and said once.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tandem_sdk::tokio;
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

use super::session::PreparedMedia;
use super::stun::{self, BindingAnswer, NoRandom, StunError};

/// RFC 8489 §6.2.1's first retransmission timeout; it doubles each time.
const FIRST_RTO: Duration = Duration::from_millis(500);
/// How long a call waits for the STUN server at most, all retransmissions
/// included (sends at 0, 0.5 and 1.5 s): far shorter than the RFC's 39.5 s,
/// as a call is waiting; without an answer the call goes ahead as it would
/// without STUN.
const GIVE_UP: Duration = Duration::from_secs(2);

/// How the NAT in front of us maps one socket's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatMapping {
    /// Not found out yet (no call asked, or the server has no other
    /// address to compare with).
    Unknown,
    /// The server saw our own address: no NAT on the way.
    None,
    /// The same public port whatever the destination (RFC 4787
    /// endpoint-independent): the STUN answer is what the peer sees.
    SamePort,
    /// Another public port per destination ("symmetric"): the STUN answer
    /// is not what the peer sees.
    PortPerDestination,
}

impl NatMapping {
    /// For the log and `tandem check`: what it means for calls, in plain
    /// words; `None` when there is nothing to say.
    pub fn explain(self) -> Option<&'static str> {
        match self {
            NatMapping::PortPerDestination => Some(
                "behind a NAT that changes ports per destination: calls need the other side \
                 or a relay to send audio back to where it comes from",
            ),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("cannot find the STUN server {0}: {1}")]
    Resolve(String, std::io::Error),
    #[error("the STUN server {0} has no address of the media socket's family")]
    NoAddress(String),
    #[error(transparent)]
    Random(#[from] NoRandom),
    #[error("cannot send to the STUN server {0}: {1}")]
    Send(SocketAddr, std::io::Error),
    #[error("the STUN server {0} did not answer within {1:?}")]
    Silent(SocketAddr, Duration),
    #[error("the STUN server {0} answered badly: {1}")]
    Answer(SocketAddr, StunError),
}

/// The configured STUN server and what it taught about the NAT.
#[derive(Debug)]
pub struct Stun {
    server: String,
    mapping: Mutex<NatMapping>,
}

impl Stun {
    /// `server` is `host:port` (checked with the configuration).
    pub fn new(server: String) -> Stun {
        Stun {
            server,
            mapping: Mutex::new(NatMapping::Unknown),
        }
    }

    pub fn mapping(&self) -> NatMapping {
        *self.mapping.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The public address and port of the call's RTP socket (its RTCP
    /// socket is asked too, so the NAT maps it as well); `None`, said in
    /// the log, when the server gave no answer in time: the caller then
    /// names what it would have without STUN.
    pub async fn public_media(&self, media: &PreparedMedia) -> Option<SocketAddr> {
        let [rtp, rtcp] = media.sockets();
        let (rtp_answer, rtcp_answer) = tokio::join!(self.ask(rtp), self.ask(rtcp));
        let answer = match rtp_answer {
            Ok(answer) => answer,
            Err(e) => {
                log::warn!(
                    "{e}; the call's audio address stays the one Tandem worked out itself, \
                     which a NAT in front of it may not let the peer's audio through"
                );
                return None;
            }
        };
        match rtcp_answer {
            Ok(rtcp) if rtcp.mapped.port() != answer.mapped.port().wrapping_add(1) => {
                log::info!(
                    "the NAT mapped the call's RTCP port to {}, not next to its RTP port {}: \
                     the peer's RTCP reports may not reach Tandem (the audio does)",
                    rtcp.mapped,
                    answer.mapped
                );
            }
            Ok(_) => {}
            Err(e) => log::info!("for the call's RTCP port: {e}"),
        }
        if self.mapping() == NatMapping::Unknown {
            self.learn_mapping(rtp, &answer, media.port).await;
        }
        Some(answer.mapped)
    }

    /// Compares the answer with one from the server's other address (when
    /// it has one), and says once what kind of NAT it showed.
    async fn learn_mapping(&self, socket: &UdpSocket, first: &BindingAnswer, local_port: u16) {
        let found = if crate::transport::public::is_ours(first.mapped.ip())
            && first.mapped.port() == local_port
        {
            NatMapping::None
        } else {
            let Some(other) = first.other else {
                return;
            };
            match ask_at(socket, other).await {
                Ok(second) if second.mapped == first.mapped => NatMapping::SamePort,
                Ok(second) => {
                    log::debug!(
                        "the STUN server's two addresses saw {} and {}",
                        first.mapped,
                        second.mapped
                    );
                    NatMapping::PortPerDestination
                }
                Err(e) => {
                    log::debug!("no second STUN answer to compare with: {e}");
                    return;
                }
            }
        };
        let mut mapping = self.mapping.lock().unwrap_or_else(|e| e.into_inner());
        if *mapping == NatMapping::Unknown {
            *mapping = found;
            match found.explain() {
                Some(words) => log::warn!("Tandem is {words}"),
                None => log::info!("the NAT keeps one public port per media socket ({found:?})"),
            }
        }
    }

    /// One Binding transaction from `socket` to the configured server.
    async fn ask(&self, socket: &UdpSocket) -> Result<BindingAnswer, AskError> {
        let local = socket
            .local_addr()
            .map_err(|e| AskError::Resolve(self.server.clone(), e))?;
        let server = tokio::net::lookup_host(&self.server)
            .await
            .map_err(|e| AskError::Resolve(self.server.clone(), e))?
            .find(|a| a.is_ipv4() == local.is_ipv4())
            .ok_or_else(|| AskError::NoAddress(self.server.clone()))?;
        ask_at(socket, server).await
    }
}

/// Sends a Binding request from `socket` to `server`, again after 0.5 and
/// 1.5 s, until an answer to it arrives or `GIVE_UP` passes. Anything else
/// arriving meanwhile (early RTP, answers to older requests) is dropped.
async fn ask_at(socket: &UdpSocket, server: SocketAddr) -> Result<BindingAnswer, AskError> {
    let id = stun::new_transaction_id()?;
    let request = stun::binding_request(&id);
    let started = Instant::now();
    let deadline = started + GIVE_UP;
    let mut next_send = started;
    let mut rto = FIRST_RTO;
    let mut buffer = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(AskError::Silent(server, GIVE_UP));
        }
        if now >= next_send {
            socket
                .send_to(&request, server)
                .await
                .map_err(|e| AskError::Send(server, e))?;
            next_send = now + rto;
            rto *= 2;
        }
        let wait_until = next_send.min(deadline);
        let Ok(received) = timeout_at(wait_until, socket.recv_from(&mut buffer)).await else {
            continue;
        };
        let Ok((len, from)) = received else { continue };
        if from != server || !stun::is_stun(&buffer[..len]) {
            continue;
        }
        match stun::parse_binding_answer(&buffer[..len], &id) {
            Ok(answer) => return Ok(answer),
            Err(StunError::OtherTransaction | StunError::NotStun(_)) => continue,
            Err(e) => return Err(AskError::Answer(server, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in server on loopback answering with a fixed mapping, the
    /// first request left unanswered: the retransmission gets through.
    #[tokio::test]
    async fn retransmits_and_reads_the_answer() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let serving = std::thread::spawn(move || {
            let mut buffer = [0u8; 100];
            server.recv_from(&mut buffer).unwrap(); // lost
            let (len, from) = server.recv_from(&mut buffer).unwrap();
            assert!(stun::is_stun(&buffer[..len]));
            let mut answer = vec![0x01, 0x01, 0x00, 0x0c];
            answer.extend_from_slice(&buffer[4..20]);
            // XOR-MAPPED-ADDRESS 192.0.2.1:32853, as RFC 5769's vector.
            answer.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47]);
            answer.extend_from_slice(&[0xe1, 0x12, 0xa6, 0x43]);
            server.send_to(b"\x80not stun", from).unwrap();
            server.send_to(&answer, from).unwrap();
        });
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let answer = ask_at(&socket, address).await.unwrap();
        assert_eq!(answer.mapped, "192.0.2.1:32853".parse().unwrap());
        serving.join().unwrap();
    }

    #[tokio::test]
    async fn gives_up_when_nobody_answers() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let error = ask_at(&socket, silent.local_addr().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(error, AskError::Silent(..)), "{error}");
        let mut buffer = [0u8; 100];
        silent.set_nonblocking(true).unwrap();
        let mut sent = 0;
        while silent.recv_from(&mut buffer).is_ok() {
            sent += 1;
        }
        assert_eq!(sent, 3, "sends at 0, 0.5 and 1.5 s within 2 s");
    }
}
