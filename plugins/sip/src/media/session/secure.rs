//! A call's DTLS-SRTP before its audio: the handshakes on the call's RTP
//! and RTCP sockets, run by the media task before its first frame (no
//! audio goes out unencrypted), and the peer's late retransmissions after.

use std::net::SocketAddr;

use tandem_sdk::tokio;
use tokio::sync::{mpsc, oneshot};

use super::{lock, Control, MediaEvent, MediaTask, Protection};
use crate::media::srtp::dtls::{self, Association, Failure};
use crate::media::srtp::{Inbound, Outbound};

/// Why the media task stops before its audio starts: asked to (with the
/// caller to tell), or its control channel closed.
type Stopped = Option<oneshot::Sender<()>>;

impl MediaTask {
    /// Runs the handshakes; on success the call's SRTP is the one they
    /// agreed. On failure the call is told, and nothing is sent until it
    /// stops the task. A stop during the handshake ends it at once.
    pub(super) async fn secure(
        &mut self,
        agreed: dtls::Agreed,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Result<(), Stopped> {
        let remote = self.remote;
        let began = std::time::Instant::now();
        // A re-INVITE during the handshake (a hold, a new address) is
        // applied once it is over: the handshake keeps the address it began
        // with, the audio then follows what was agreed last.
        let mut later = None;
        let result = {
            let handshake =
                Association::establish(agreed.role, agreed.peer, (&self.rtp, &self.rtcp), remote);
            tokio::pin!(handshake);
            loop {
                tokio::select! {
                    result = &mut handshake => break result,
                    command = control.recv() => match command {
                        Some(Control::Stop(done)) => return Err(Some(done)),
                        None => return Err(None),
                        Some(Control::Update(agreed)) => later = Some(agreed),
                        // Digits before the audio starts have no stream
                        // to go in.
                        Some(Control::Dtmf(_)) => {}
                    },
                }
            }
        };
        match result {
            Ok(association) => {
                let (rtp, rtcp) = (association.rtp_keys, association.rtcp_keys);
                log::info!(
                    "media encrypted: DTLS-SRTP {} (handshakes done in {} ms)",
                    rtp.suite.name(),
                    began.elapsed().as_millis()
                );
                self.srtp = Some(Protection {
                    keying: None,
                    outbound: Outbound::new(rtp.suite, &rtp.ours),
                    inbound: Inbound::new(rtp.suite, &rtp.theirs),
                    rtcp: Some((
                        Outbound::new(rtcp.suite, &rtcp.ours),
                        Inbound::new(rtcp.suite, &rtcp.theirs),
                    )),
                });
                lock(&self.counters).encryption = rtp.suite.name();
                self.dtls = Some(association);
                if let Some(agreed) = later {
                    self.apply(agreed);
                }
                Ok(())
            }
            Err(error) => {
                log::warn!("no audio: {error}");
                (self.on_event)(MediaEvent::EncryptionFailed(Failure::from(&error)));
                loop {
                    match control.recv().await {
                        Some(Control::Stop(done)) => return Err(Some(done)),
                        None => return Err(None),
                        Some(_) => {}
                    }
                }
            }
        }
    }

    /// A DTLS record after the handshake (the peer resending its last
    /// flight because ours was lost): OpenSSL's answer goes back. Says
    /// whether the datagram was one; without DTLS it never is.
    pub(super) async fn answer_late_dtls(
        &mut self,
        rtcp: bool,
        datagram: &[u8],
        from: SocketAddr,
    ) -> bool {
        let Some(association) = &mut self.dtls else {
            return false;
        };
        if !dtls::is_dtls(datagram) {
            return false;
        }
        if let Some(reply) = association.late(rtcp, datagram) {
            let socket = if rtcp { &self.rtcp } else { &self.rtp };
            socket.send_to(&reply, from).await.ok();
        }
        true
    }
}
