//! One call's media: a task that sends a frame every 20 ms on a kernel
//! timer with an absolute period (so pacing never drifts, see `pacer`),
//! receives, reorders and records, and handles DTMF and RTCP on the way.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_sdk::events::sip::MediaStats;
use tandem_sdk::tokio;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::audio::Rate;
use super::call_audio::CallAudio;
use super::codec::{Codec, Coder, CoderError};
use super::dtmf::{DtmfReceiver, DtmfSender, Frame};
use super::g711::Law;
use super::jitter::JitterBuffer;
use super::pacer::Pacer;
use super::rtcp;
use super::rtp::{self, RtpHeader, SequenceExtender};
use super::sdp::{Keying, Negotiated};
use super::srtp::dtls::{Association, Failure};
use super::srtp::{self, Inbound, MasterKey, Outbound};
use super::stats::Counters;

mod secure;

const RTCP_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("no free RTP port pair in {0}..{1} on {2}")]
    NoPorts(u16, u16, IpAddr),
    #[error(transparent)]
    Key(#[from] srtp::RandomError),
}

/// The RTP/RTCP socket pair of a call, bound before the SDP goes out.
pub struct PreparedMedia {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    pub port: u16,
    /// The SRTP master key we send with, when SDES is agreed: made with
    /// the sockets so the offer or answer can carry it.
    pub key: MasterKey,
}

impl PreparedMedia {
    /// Binds an even port and the odd one above it, starting at a random
    /// place in the range so concurrent calls rarely collide.
    pub async fn bind(ip: IpAddr, [low, high]: [u16; 2]) -> Result<PreparedMedia, BindError> {
        let key = MasterKey::random()?;
        let pairs = u32::from((high - low) / 2).max(1);
        let start = rand::random::<u32>() % pairs;
        for i in 0..pairs.min(256) {
            let port = low + 2 * ((start + i) % pairs) as u16;
            let Ok(rtp) = UdpSocket::bind((ip, port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind((ip, port + 1)).await else {
                continue;
            };
            return Ok(PreparedMedia {
                rtp,
                rtcp,
                port,
                key,
            });
        }
        Err(BindError::NoPorts(low, high, ip))
    }

    /// The RTP and the RTCP socket, for STUN (`reflexive`): a NAT's mapping
    /// is per socket, so each must ask for its own.
    pub fn sockets(&self) -> [&UdpSocket; 2] {
        [&self.rtp, &self.rtcp]
    }

    /// Sends an empty datagram (RFC 6263 §4.6) from the RTP and the RTCP
    /// port to the peer's, before our 200 OK goes out: a NAT in front of us
    /// then maps our ports before the peer's first packet arrives. A Linux
    /// NAT that sees the peer's RTP first keeps that flow as its own and
    /// gives ours another public port, so the peer's audio never reaches us
    /// (measured in decision 0053). Peers drop an empty datagram as a
    /// malformed packet.
    pub async fn open_path(&self, agreed: &Negotiated) {
        if agreed.remote_ip.is_unspecified() {
            return;
        }
        let rtp = SocketAddr::new(agreed.remote_ip, agreed.remote_port);
        let rtcp = SocketAddr::new(agreed.remote_ip, agreed.remote_port.wrapping_add(1));
        // Best effort: if it fails, the first RTP opens the path.
        self.rtp.send_to(&[], rtp).await.ok();
        self.rtcp.send_to(&[], rtcp).await.ok();
    }
}

enum Control {
    Dtmf(String),
    Update(Negotiated),
    Stop(oneshot::Sender<()>),
}

/// What the media task tells the call about, as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit ended (reported once).
    Dtmf(char),
    /// Nothing (RTP or RTCP) came from the peer for the silence timeout
    /// while the call was not on hold: the peer is most likely gone
    /// without a BYE. Reported once.
    Silent,
    /// The DTLS-SRTP handshake failed, timed out, or the peer's
    /// certificate was not the one its SDP named: no audio went out, and
    /// the call must end. Reported once.
    EncryptionFailed(Failure),
}

/// A running call's media. Dropping it stops the task.
pub struct ActiveMedia {
    control: mpsc::UnboundedSender<Control>,
    counters: Arc<Mutex<Counters>>,
    dtmf_pt: Option<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum DtmfError {
    #[error("the peer did not offer telephone-event (RFC 4733), so no DTMF can be sent")]
    NotNegotiated,
    #[error("{0:?} is not a DTMF digit (0-9 * # A-D)")]
    BadDigit(char),
    #[error("the call's media has stopped")]
    Stopped,
}

impl ActiveMedia {
    /// Starts the call's media task with its source and sink (opened at
    /// the agreed codec's rate, `Codec::rate`); fails only if the agreed
    /// codec cannot be set up (libopus refusing, say).
    pub fn start(
        prepared: PreparedMedia,
        agreed: Negotiated,
        audio: CallAudio,
        cname: String,
        silence_timeout: Option<Duration>,
        on_event: impl Fn(MediaEvent) + Send + Sync + 'static,
    ) -> Result<ActiveMedia, CoderError> {
        let coder = Coder::new(agreed.codec)?;
        let counters = Arc::new(Mutex::new(Counters {
            codec: agreed.codec.name(),
            encryption: agreed.srtp.map_or("", |k| k.suite.name()),
            ..Counters::default()
        }));
        let srtp = agreed
            .srtp
            .map(|keying| Protection::new(keying, &prepared.key));
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = MediaTask {
            rtp: prepared.rtp,
            rtcp: prepared.rtcp,
            key: prepared.key,
            srtp,
            dtls: None,
            coder,
            agreed,
            remote: SocketAddr::new(agreed.remote_ip, agreed.remote_port),
            latched: false,
            audio,
            counters: counters.clone(),
            cname,
            silence_timeout,
            on_event: Box::new(on_event),
        };
        tokio::spawn(task.run(control_rx));
        Ok(ActiveMedia {
            control,
            counters,
            dtmf_pt: agreed.dtmf,
        })
    }

    pub fn stats(&self) -> MediaStats {
        lock(&self.counters).snapshot()
    }

    /// How late sends were against their deadlines (p99, microseconds).
    pub fn send_lateness_p99_us(&self) -> u32 {
        lock(&self.counters).pacing.p99_us()
    }

    pub fn send_dtmf(&self, digits: &str) -> Result<(), DtmfError> {
        if self.dtmf_pt.is_none() {
            return Err(DtmfError::NotNegotiated);
        }
        if let Some(bad) = digits
            .chars()
            .find(|c| !c.is_whitespace() && super::dtmf::event_of(*c).is_none())
        {
            return Err(DtmfError::BadDigit(bad));
        }
        self.control
            .send(Control::Dtmf(digits.to_owned()))
            .map_err(|_| DtmfError::Stopped)
    }

    /// A re-INVITE changed the address, codec or direction.
    pub fn update(&self, agreed: Negotiated) {
        self.control.send(Control::Update(agreed)).ok();
    }

    /// Stops sending and finishes the recording; answers the final counts.
    pub async fn stop(self) -> MediaStats {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Stop(done)).is_ok() {
            wait.await.ok();
        }
        self.stats()
    }
}

fn lock(counters: &Mutex<Counters>) -> std::sync::MutexGuard<'_, Counters> {
    counters.lock().unwrap_or_else(|e| e.into_inner())
}

/// A call's SRTP: what we send, protected with our key; what arrives,
/// checked with the peer's.
struct Protection {
    /// The SDES agreement; `None` for keys from DTLS.
    keying: Option<Keying>,
    outbound: Outbound,
    inbound: Inbound,
    /// RTCP's own contexts with DTLS, whose RTCP has a handshake and keys
    /// of its own (RFC 5764 §4.1); with SDES, RTCP uses the above.
    rtcp: Option<(Outbound, Inbound)>,
}

impl Protection {
    fn new(keying: Keying, ours: &MasterKey) -> Protection {
        Protection {
            keying: Some(keying),
            outbound: Outbound::new(keying.suite, ours),
            inbound: Inbound::new(keying.suite, &keying.remote),
            rtcp: None,
        }
    }

    fn rtcp_outbound(&mut self) -> &mut Outbound {
        self.rtcp
            .as_mut()
            .map_or(&mut self.outbound, |(out, _)| out)
    }

    fn rtcp_inbound(&mut self) -> &mut Inbound {
        self.rtcp
            .as_mut()
            .map_or(&mut self.inbound, |(_, inbound)| inbound)
    }

    /// A re-INVITE's agreement: the same keys keep their counters (a new
    /// context would restart the rollover counter and replay window).
    fn renewed(
        current: Option<Protection>,
        agreed: Option<Keying>,
        ours: &MasterKey,
    ) -> Option<Protection> {
        match (current, agreed) {
            (Some(current), Some(keying)) if current.keying == Some(keying) => Some(current),
            (_, keying) => keying.map(|k| Protection::new(k, ours)),
        }
    }
}

struct MediaTask {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// Our SRTP master key (the one in our SDP).
    key: MasterKey,
    srtp: Option<Protection>,
    /// The DTLS-SRTP association, once its handshakes are done: kept to
    /// answer a peer that resends its last flight.
    dtls: Option<Association>,
    /// The agreed codec's encoder and decoder, with their state.
    coder: Coder,
    agreed: Negotiated,
    remote: SocketAddr,
    /// Symmetric RTP: once the peer's packets arrive, we answer where they
    /// come from (NAT, or an SDP address that was wrong).
    latched: bool,
    /// The source and sink, at the rate they were opened at.
    audio: CallAudio,
    counters: Arc<Mutex<Counters>>,
    cname: String,
    silence_timeout: Option<Duration>,
    on_event: Box<dyn Fn(MediaEvent) + Send + Sync>,
}

impl MediaTask {
    /// What a re-INVITE agreed: the peer's address, codec, direction and,
    /// without DTLS, SDES keys.
    fn apply(&mut self, agreed: Negotiated) {
        // DTLS keys stay for the call: a re-INVITE starts no new handshake
        // (and one that asks for DTLS in a call without it keeps the keys
        // it has).
        if self.dtls.is_none() && agreed.dtls.is_none() {
            self.srtp = Protection::renewed(self.srtp.take(), agreed.srtp, &self.key);
            lock(&self.counters).encryption = agreed.srtp.map_or("", |k| k.suite.name());
        }
        self.remote = SocketAddr::new(agreed.remote_ip, agreed.remote_port);
        self.latched = false;
        if agreed.codec != self.coder.codec() {
            // A codec of another rate gets its frames through `CallAudio`'s
            // bridges from now on.
            match Coder::new(agreed.codec) {
                Ok(coder) => {
                    self.coder = coder;
                    lock(&self.counters).codec = agreed.codec.name();
                }
                Err(e) => log::warn!("keeping {}: {e}", self.coder.codec()),
            }
        }
        self.agreed = agreed;
    }

    async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        let ssrc: u32 = rand::random();
        let mut sequence: u16 = rand::random();
        let mut clock: u32 = rand::random();
        let mut tone_timestamp = clock;
        let mut first = true;
        let mut dtmf_out = DtmfSender::default();
        let mut dtmf_in = DtmfReceiver::default();
        let mut extender = SequenceExtender::default();
        let mut jitter = JitterBuffer::default();
        let most = Rate::Wide.frame();
        let mut encoded = Vec::with_capacity(most);
        let mut decoded = Vec::with_capacity(most);
        let mut packet = Vec::with_capacity(most + rtp::HEADER_LEN);
        let mut receive_buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 1500];
        if let Some(agreed) = self.agreed.dtls {
            if let Err(stopped) = self.secure(agreed, &mut control).await {
                self.audio.sink().finish();
                if let Some(done) = stopped {
                    done.send(()).ok();
                }
                return;
            }
        }
        let mut pacer = Pacer::join();
        let started = Instant::now();
        let mut next_rtcp = started + RTCP_INTERVAL;
        let mut last_heard = started;
        let mut reported_silence = false;
        let stopped = loop {
            tokio::select! {
                biased;
                command = control.recv() => match command {
                    Some(Control::Dtmf(digits)) => {
                        dtmf_out.push(&digits).ok();
                    }
                    Some(Control::Update(agreed)) => self.apply(agreed),
                    Some(Control::Stop(done)) => break Some(done),
                    None => break None,
                },
                (tick, ticks) = pacer.tick() => {
                    let now = Instant::now();
                    let late = now.saturating_duration_since(tick.due);
                    lock(&self.counters).pacing.record(late.as_micros() as u64);
                    // Periods missed (the task was held up longer than a
                    // frame): their audio is skipped rather than sent in a
                    // burst, and the RTP clock keeps to real time, so the
                    // peer hears a short gap instead of growing latency.
                    let missed = ticks.saturating_sub(1) as u32;
                    let step = self.coder.codec().timestamp_step();
                    clock = clock.wrapping_add(missed.wrapping_mul(step));
                    let held = self.agreed.held();
                    if held {
                        last_heard = now; // a held peer may rightly say nothing
                    } else if let Some(timeout) = self.silence_timeout {
                        if !reported_silence && now.duration_since(last_heard) > timeout {
                            reported_silence = true;
                            (self.on_event)(MediaEvent::Silent);
                        }
                    }
                    let header = match dtmf_out.next_frame() {
                        Frame::Audio => {
                            let pcm = self.audio.next_frame(self.coder.rate());
                            self.coder.encode(pcm, &mut encoded);
                            let header = RtpHeader {
                                marker: std::mem::take(&mut first),
                                payload_type: self.agreed.payload_type,
                                sequence,
                                timestamp: clock,
                                ssrc,
                            };
                            rtp::write(&header, &encoded, &mut packet);
                            header
                        }
                        Frame::Tone { payload, first: starts, .. } => {
                            if starts {
                                tone_timestamp = clock;
                            }
                            let header = RtpHeader {
                                marker: starts,
                                payload_type: self.agreed.dtmf.unwrap_or(101),
                                sequence,
                                timestamp: tone_timestamp,
                                ssrc,
                            };
                            rtp::write(&header, &payload, &mut packet);
                            header
                        }
                    };
                    clock = clock.wrapping_add(step);
                    if !held {
                        sequence = header.sequence.wrapping_add(1);
                        let payload_len = (packet.len() - rtp::HEADER_LEN) as u64;
                        if let Some(srtp) = &mut self.srtp {
                            srtp.outbound.protect_rtp(&mut packet);
                        }
                        if self.rtp.send_to(&packet, self.remote).await.is_ok() {
                            let mut counters = lock(&self.counters);
                            counters.sent += 1;
                            counters.sent_bytes += payload_len;
                        }
                    }
                    if now >= next_rtcp {
                        next_rtcp = now + RTCP_INTERVAL;
                        self.send_report(ssrc, clock).await;
                    }
                },
                received = self.rtp.recv_from(&mut receive_buf) => {
                    let Ok((len, from)) = received else { continue };
                    // A late answer to our STUN request (RFC 7983).
                    if super::stun::is_stun(&receive_buf[..len])
                        || self.answer_late_dtls(false, &receive_buf[..len], from).await
                    {
                        continue;
                    }
                    // Checked before anything is believed (the source we
                    // latch to included): a forged packet must not steer
                    // our audio elsewhere.
                    let Some(len) = self.unprotect(&mut receive_buf[..len], false, from) else {
                        continue;
                    };
                    let Ok((header, payload)) = rtp::parse(&receive_buf[..len]) else { continue };
                    last_heard = Instant::now();
                    if !self.latched && from != self.remote {
                        self.remote = from;
                    }
                    self.latched = true;
                    if lock(&self.counters).receive.on_ssrc(header.ssrc) {
                        extender = SequenceExtender::default();
                        jitter = JitterBuffer::default();
                    }
                    let seq = extender.extend(header.sequence);
                    // Jitter is counted in 8 kHz units whatever the clock.
                    let scale = self.coder.codec().clock_rate() / 8000;
                    lock(&self.counters).receive.on_packet(
                        seq,
                        header.timestamp / scale.max(1),
                        payload.len(),
                        std::time::Instant::now(),
                    );
                    if Some(header.payload_type) == self.agreed.dtmf {
                        if let Some(digit) = dtmf_in.on_packet(header.timestamp, payload) {
                            lock(&self.counters).dtmf.push(digit);
                            (self.on_event)(MediaEvent::Dtmf(digit));
                        }
                        let silence = self.audio.silence();
                        let sink = self.audio.sink();
                        jitter.push(seq, silence, |f| sink.write(f));
                    } else if header.payload_type == self.agreed.payload_type {
                        self.coder.decode(payload, &mut decoded);
                        let frame = self.audio.received(&decoded, self.coder.rate());
                        let sink = self.audio.sink();
                        jitter.push(seq, frame, |f| sink.write(f));
                    } else if let Some(other) = other_codec(header.payload_type) {
                        // RFC 3264 lets the peer switch among the codecs of
                        // the answer; decode what we know (G.711: 8 kHz).
                        super::g711::decode(other, payload, &mut decoded);
                        let frame = self.audio.received(&decoded, Rate::Narrow);
                        let sink = self.audio.sink();
                        jitter.push(seq, frame, |f| sink.write(f));
                    }
                },
                received = self.rtcp.recv_from(&mut rtcp_buf) => {
                    if let Ok((len, from)) = received {
                        if super::stun::is_stun(&rtcp_buf[..len])
                            || self.answer_late_dtls(true, &rtcp_buf[..len], from).await
                        {
                            continue;
                        }
                        let Some(len) = self.unprotect(&mut rtcp_buf[..len], true, from) else {
                            continue;
                        };
                        if rtcp::packet_types(&rtcp_buf[..len]).is_some() {
                            last_heard = Instant::now();
                            lock(&self.counters).rtcp_received += 1;
                        }
                    }
                },
            }
        };
        self.audio.sink().finish();
        if let Some(done) = stopped {
            done.send(()).ok();
        }
    }

    /// With SRTP, the length of the plain packet once it authenticated
    /// and was decrypted in place; `None` for a packet to drop (counted,
    /// never played). Without SRTP, the packet as it came. The first
    /// refusal is logged with its size and sender: a peer sending plain
    /// RTP shows as packets of the plain size from its address.
    fn unprotect(&mut self, packet: &mut [u8], rtcp: bool, from: SocketAddr) -> Option<usize> {
        let Some(srtp) = &mut self.srtp else {
            return Some(packet.len());
        };
        let opened = if rtcp {
            srtp.rtcp_inbound().unprotect_rtcp(packet)
        } else {
            srtp.inbound.unprotect_rtp(packet)
        };
        match opened {
            Ok(len) => Some(len),
            // Too short to be SRTP at all (RFC 6263's empty keep-alives,
            // say): dropped unnoticed, as a plain RTP socket drops junk.
            Err(srtp::SrtpError::Truncated(_)) => None,
            Err(e) => {
                let mut counters = lock(&self.counters);
                counters.rejected += 1;
                if counters.rejected == 1 {
                    log::warn!(
                        "dropping media packets that fail SRTP checks, the first: {e} \
                         ({} bytes of {} from {from})",
                        packet.len(),
                        if rtcp { "RTCP" } else { "RTP" },
                    );
                }
                None
            }
        }
    }

    async fn send_report(&mut self, ssrc: u32, clock: u32) {
        let (report, packets, octets) = {
            let counters = lock(&self.counters);
            let receive = &counters.receive;
            let block = (receive.packets > 0).then(|| rtcp::ReportBlock {
                ssrc: 0,
                fraction_lost: 0,
                cumulative_lost: receive.lost() as u32,
                highest_seq: receive.highest() as u32,
                jitter: receive.jitter_units(),
            });
            (block, counters.sent as u32, counters.sent_bytes as u32)
        };
        let mut packet = rtcp::sender_report(ssrc, clock, packets, octets, report, &self.cname);
        if let Some(srtp) = &mut self.srtp {
            srtp.rtcp_outbound().protect_rtcp(&mut packet);
        }
        let to = SocketAddr::new(self.remote.ip(), self.remote.port().wrapping_add(1));
        self.rtcp.send_to(&packet, to).await.ok();
    }
}

/// G.711 by its static payload type: stateless, so it can be decoded
/// without a coder of its own when the peer switches to it.
fn other_codec(payload_type: u8) -> Option<Law> {
    Codec::from_static(payload_type).and_then(Codec::law)
}
