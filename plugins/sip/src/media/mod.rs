//! Tandem's media engine: G.711, G.722 and Opus over RTP with RFC 4733
//! DTMF, RTCP reports,
//! a reorder buffer, and audio sources and sinks behind one trait each.
//! rsipstack does signalling only; everything after the SDP is here.

pub mod analysis;
pub mod audio;
pub mod call_audio;
pub mod codec;
pub mod device;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod jitter;
pub mod opus;
pub mod pacer;
pub mod reflexive;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod sdp_sections;
pub mod session;
pub mod sink;
pub mod source;
pub mod srtp;
pub mod stats;
pub mod stun;

use std::net::IpAddr;

pub use session::{ActiveMedia, DtmfError, PreparedMedia};
pub use sink::{PlaybackSpec, SinkSpec};
pub use source::SourceSpec;

use crate::config::encryption::Encryption;
use crate::config::Config;
use crate::transport::route::Advertised;

/// The media part of the configuration, checked once at start.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Where RTP sockets bind (`media_bind`).
    pub bind: IpAddr,
    /// What SDP names (`media_address`, else from the bind address; a
    /// wildcard bind names the route's address toward each peer).
    pub advertised: Advertised,
    /// `media_address`, when set: then nothing learned replaces it.
    pub configured: Option<IpAddr>,
    pub ports: [u16; 2],
    pub source: SourceSpec,
    pub record: SinkSpec,
    pub playback: PlaybackSpec,
    /// The STUN server asked for each call's public media address
    /// (`stun_server`), with what it taught about the NAT.
    pub stun: Option<std::sync::Arc<reflexive::Stun>>,
    /// `codecs`, less what this machine cannot run.
    pub codecs: codec::Preference,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaSetupError {
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    #[error(transparent)]
    Bind(#[from] session::BindError),
    #[error(transparent)]
    Sdp(#[from] sdp::SdpError),
    #[error("none of the configured codecs ({0}) can run on this machine")]
    NoCodecs(String),
    #[error("media_encryption is \"dtls-required\", but {0}")]
    DtlsRequired(srtp::dtls::DtlsError),
}

impl MediaConfig {
    pub fn from_config(config: &Config) -> Result<MediaConfig, MediaSetupError> {
        if let Some(ip) = config.media_ip {
            log::warn!(
                "media_ip is deprecated: it sets both media_address (the address written in \
                 SDP) and media_bind (where RTP binds), so it cannot name a NAT's public \
                 address; write media_address = \"{ip}\" and media_bind = \"{ip}\" instead"
            );
        }
        let source: SourceSpec = config.source.parse()?;
        // Open once now so a missing WAV file is an error at start, not
        // silence in the first call. A sound device may come later (it is
        // opened again for each call), so its absence is only said here.
        match source.open(audio::Rate::Narrow) {
            Err(source::SourceError::Device(e)) => {
                log::warn!("no microphone now: {e}; calls send silence until there is one");
            }
            other => drop(other?),
        }
        // Said once, here: calls then simply never offer the codec.
        let codecs = codec::Preference::new(&config.codecs, |_, _| {});
        for note in codec::left_out(&config.codecs) {
            log::warn!("{note}");
        }
        // Only a setting that offers DTLS loads OpenSSL at start; the
        // others load it when a DTLS offer first comes.
        let offers_dtls = config.media_encryption.is_some_and(Encryption::offers_dtls);
        if config.media_encryption == Some(Encryption::DtlsRequired) {
            if let Err(e) = srtp::dtls::local_fingerprint() {
                return Err(MediaSetupError::DtlsRequired(e));
            }
        }
        if let Some(note) = offers_dtls
            .then(|| srtp::dtls::left_out(config.media_encryption))
            .flatten()
        {
            log::warn!("{note}");
        }
        if codecs.is_empty() {
            let named: Vec<&str> = config.codecs.iter().map(|c| c.name()).collect();
            return Err(MediaSetupError::NoCodecs(named.join(", ")));
        }
        Ok(MediaConfig {
            bind: config.media_bind(),
            advertised: Advertised::new(config.media_address(), config.media_bind()),
            configured: config.media_address(),
            ports: config.rtp_ports,
            source,
            record: config.record.parse()?,
            playback: config.playback.parse()?,
            stun: config
                .stun_server
                .clone()
                .map(|server| std::sync::Arc::new(reflexive::Stun::new(server))),
            codecs,
        })
    }
}
