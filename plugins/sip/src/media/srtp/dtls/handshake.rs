//! A call's DTLS-SRTP association: one handshake on the RTP socket and one
//! on the RTCP socket (RFC 5764 §4.1: each component has its own unless
//! RTCP is multiplexed, which Tandem does not offer), run side by side on
//! the sockets the SDP named, with OpenSSL's retransmission timer and a
//! bound on the whole.

use std::net::SocketAddr;
use std::time::Duration;

use tandem_sdk::tokio;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::attributes::{Fingerprint, Role};
use super::certificate::identity;
use super::endpoint::Endpoint;
use super::keys::SrtpKeys;
use super::DtlsError;

/// How long a handshake may take: a flight is resent after 0.25, 0.5, 1,
/// 2 and then every 4 s (`endpoint::resend_after`), so a lossy path gets
/// seven tries; a peer that never answers ends the call in plain words
/// instead of leaving it silent.
pub const LIMIT: Duration = Duration::from_secs(15);

/// A DTLS record, by its first byte (RFC 7983 §7: 20 to 63).
pub fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// A DTLS record that opens a handshake: type 22 (handshake) in epoch 0,
/// its message a ClientHello (type 1) — what a client sends first.
fn is_client_hello(datagram: &[u8]) -> bool {
    datagram.len() > 13 && datagram[0] == 22 && datagram[3..5] == [0, 0] && datagram[13] == 1
}

/// The two components' endpoints, kept for the call: a peer that missed
/// our last flight resends its own, and must get ours again.
pub struct Association {
    rtp: Endpoint,
    rtcp: Endpoint,
    pub rtp_keys: SrtpKeys,
    pub rtcp_keys: SrtpKeys,
}

impl Association {
    /// Runs both handshakes as `role` toward `remote` (RTCP on the next
    /// port), and checks the peer's certificate against `expected`.
    pub async fn establish(
        role: Role,
        expected: Fingerprint,
        (rtp, rtcp): (&UdpSocket, &UdpSocket),
        remote: SocketAddr,
    ) -> Result<Association, DtlsError> {
        let identity = identity()?;
        let mut rtp_end = Endpoint::new(identity, role)?;
        let mut rtcp_end = Endpoint::new(identity, role)?;
        let rtcp_remote = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
        let deadline = Instant::now() + LIMIT;
        tokio::try_join!(
            run(&mut rtp_end, rtp, remote, deadline),
            run(&mut rtcp_end, rtcp, rtcp_remote, deadline),
        )?;
        Ok(Association {
            rtp_keys: rtp_end.keys(&expected)?,
            rtcp_keys: rtcp_end.keys(&expected)?,
            rtp: rtp_end,
            rtcp: rtcp_end,
        })
    }

    /// A DTLS datagram after the handshake, on the RTP or RTCP socket:
    /// what to send back, if anything.
    pub fn late(&mut self, rtcp: bool, datagram: &[u8]) -> Option<Vec<u8>> {
        let end = if rtcp { &mut self.rtcp } else { &mut self.rtp };
        end.receive(datagram).ok()?;
        end.outgoing()
    }
}

/// One component's handshake. The client sends to the address the SDP
/// gave; the server answers where the client's first ClientHello came
/// from (a NAT may stand between) and from then on hears that address
/// only: a packet from elsewhere could otherwise turn our flights away or
/// end the handshake with a forged plaintext alert. Anything not DTLS
/// (early RTP, STUN) is dropped.
async fn run(
    end: &mut Endpoint,
    socket: &UdpSocket,
    mut peer: SocketAddr,
    deadline: Instant,
) -> Result<(), DtlsError> {
    let mut buf = vec![0u8; 2048];
    let mut client_heard = false;
    let mut done = end.drive()?;
    loop {
        while let Some(datagram) = end.outgoing() {
            socket.send_to(&datagram, peer).await.ok();
        }
        if done {
            return Ok(());
        }
        let wake = end
            .timeout()
            .map_or(deadline, |left| Instant::now() + left)
            .min(deadline);
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                if !is_dtls(&buf[..len]) {
                    continue;
                }
                if end.role() == Role::Server {
                    if !client_heard {
                        if !is_client_hello(&buf[..len]) {
                            continue;
                        }
                        peer = from;
                        client_heard = true;
                    } else if from != peer {
                        continue;
                    }
                }
                done = end.receive(&buf[..len])?;
            }
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    return Err(DtlsError::TimedOut(LIMIT.as_secs()));
                }
                end.on_timeout()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that never answers: our ClientHello goes out, is sent again
    /// each time the timer runs out (0.25, 0.5, 1 s), and the handshake
    /// ends at its deadline with an error rather than waiting for ever.
    #[tokio::test]
    async fn a_silent_peer_gets_retransmissions_then_a_timeout() {
        let ours = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        silent.set_nonblocking(true).unwrap();
        let mut end = Endpoint::new(identity().unwrap(), Role::Client).unwrap();
        let deadline = Instant::now() + Duration::from_millis(2500);
        let result = run(&mut end, &ours, silent.local_addr().unwrap(), deadline).await;
        assert_eq!(result, Err(DtlsError::TimedOut(LIMIT.as_secs())));
        let mut hellos = 0;
        let mut buf = [0u8; 2048];
        while let Ok(len) = silent.recv(&mut buf) {
            assert!(is_dtls(&buf[..len]), "a DTLS record");
            hellos += 1;
        }
        assert!(hellos >= 3, "the ClientHello was not sent again: {hellos}");
    }

    /// A fatal alert in DTLS 1.2's plaintext epoch 0 (handshake_failure),
    /// as anyone who knows the port could send it.
    const FORGED_ALERT: [u8; 15] = [21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40];

    /// An intruder's alerts, one before the client's ClientHello and more
    /// while the handshake runs, reach neither OpenSSL nor turn the
    /// server's flights away: the handshake ends with the real client.
    #[tokio::test]
    async fn the_server_hears_only_the_client_that_said_hello_first() {
        let server_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let intruder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_address = server_socket.local_addr().unwrap();
        intruder.send_to(&FORGED_ALERT, server_address).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut server = Endpoint::new(identity().unwrap(), Role::Server).unwrap();
        let mut client = Endpoint::new(identity().unwrap(), Role::Client).unwrap();
        let forging = std::thread::spawn(move || {
            for _ in 0..20 {
                intruder.send_to(&FORGED_ALERT, server_address).ok();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        // The server is told the client's address, as the SDP says.
        let sdp_says = client_socket.local_addr().unwrap();
        let (served, asked) = tokio::join!(
            run(&mut server, &server_socket, sdp_says, deadline),
            run(&mut client, &client_socket, server_address, deadline),
        );
        forging.join().unwrap();
        assert_eq!(served, Ok(()));
        assert_eq!(asked, Ok(()));
    }
}
