//! SDP (RFC 4566) for one audio stream, and the offer/answer rules of
//! RFC 3264 that Tandem needs: the codecs of `codec`, in the configured
//! order, plus RFC 4733 telephone-events, and
//! SRTP keys as RFC 4568 security descriptions (`a=crypto`), or agreed in
//! DTLS (RFC 5763: `a=fingerprint` and `a=setup`, `srtp::dtls`).
//!
//! Only what is needed is parsed; unknown lines are ignored, as SDP wants.

use std::net::IpAddr;

use super::codec::{Codec, Preference};
use super::srtp::dtls::{self, DtlsLines, Role, Setup};
use super::srtp::sdes::Crypto;
use super::srtp::{MasterKey, Suite};
use crate::config::encryption::Encryption;

/// Payload type we offer for telephone-event.
pub const DTMF_PAYLOAD_TYPE: u8 = 101;

/// Media direction attribute (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// What we answer to an offered direction.
    pub fn mirrored(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// Whether we may send audio with this (our own) direction.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// One `m=` line with what belongs to it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaLine {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    /// `a=rtpmap:<pt> <name>/<rate>`.
    pub rtpmaps: Vec<(u8, String, u32)>,
    pub direction: Option<Direction>,
    pub connection: Option<IpAddr>,
    /// The `a=crypto` lines Tandem can use, in the sender's order.
    pub cryptos: Vec<Crypto>,
    /// How many `a=crypto` lines there were, usable or not.
    pub crypto_lines: usize,
    /// `a=fingerprint` and `a=setup` (DTLS-SRTP).
    pub dtls: DtlsLines,
}

impl MediaLine {
    /// `RTP/SAVP` (or `RTP/SAVPF`): the sender wants SRTP or nothing.
    pub fn secure_profile(&self) -> bool {
        self.proto.contains("SAVP")
    }

    /// `UDP/TLS/RTP/SAVP` (RFC 5764 §8), or an older peer's `RTP/SAVP`
    /// with a fingerprint and no SDES key: keys from a DTLS handshake.
    fn wants_dtls(&self, session: &DtlsLines) -> bool {
        self.proto.contains("TLS")
            || (self.secure_profile()
                && self.crypto_lines == 0
                && self.dtls.or(session).fingerprint_lines > 0)
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionDescription {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaLine>,
    /// Session-level `a=fingerprint` and `a=setup`.
    pub dtls: DtlsLines,
}

/// What both sides agreed on for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The payload type the codec travels under: the offerer's number
    /// (Opus's is dynamic).
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides have it.
    pub dtmf: Option<u8>,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
    /// Our direction.
    pub direction: Direction,
    /// SRTP, when both sides agreed on it.
    pub srtp: Option<Keying>,
    /// The peer's profile was `RTP/SAVP`: our answer says it back.
    pub secure_profile: bool,
    /// DTLS-SRTP, when both sides agreed on it: the keys come from the
    /// handshake the media task runs (`srtp` is then `None`).
    pub dtls: Option<dtls::Agreed>,
}

/// The SRTP both sides agreed on: the suite, the `a=crypto` tag it was
/// agreed under, and the key the peer sends with (ours is the call's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keying {
    pub suite: Suite,
    pub tag: u32,
    pub remote: MasterKey,
}

impl Negotiated {
    /// The peer put the call on hold (RFC 3264 §8.4), or we answer so.
    pub fn held(&self) -> bool {
        !self.direction.sends() || self.remote_ip.is_unspecified()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("the SDP is not UTF-8")]
    NotText,
    #[error("the SDP has no audio stream")]
    NoAudio,
    #[error("the SDP has no connection address for the audio stream")]
    NoConnection,
    #[error("bad SDP line {0:?}")]
    BadLine(String),
    /// Answered 488 Not Acceptable Here.
    #[error("no common codec: offered {0:?}, Tandem takes {1}")]
    NoCommonCodec(Vec<String>, String),
    /// Answered 488: `media_encryption = "sdes-required"` or
    /// `"dtls-required"`.
    #[error("the peer's audio is not encrypted and media_encryption requires it")]
    EncryptionRequired,
    /// Answered 488: `RTP/SAVP` asks for SRTP we cannot or will not give.
    #[error("the peer wants encrypted audio that Tandem cannot take: {0}")]
    EncryptionRefused(&'static str),
}

pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session = SessionDescription {
        connection: None,
        direction: None,
        media: Vec::new(),
        dtls: DtlsLines::default(),
    };
    for line in text.lines().map(str::trim_end) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        let bad = || SdpError::BadLine(line.to_owned());
        match kind {
            "c" => {
                // c=IN IP4 192.0.2.1[/ttl]
                let addr = value.split_whitespace().nth(2).ok_or_else(bad)?;
                let addr = addr.split('/').next().unwrap_or(addr);
                let ip: IpAddr = addr.parse().map_err(|_| bad())?;
                match session.media.last_mut() {
                    Some(m) => m.connection = Some(ip),
                    None => session.connection = Some(ip),
                }
            }
            "m" => {
                let mut parts = value.split_whitespace();
                let kind = parts.next().ok_or_else(bad)?.to_owned();
                let port = parts.next().ok_or_else(bad)?;
                let port = port.split('/').next().unwrap_or(port);
                let port: u16 = port.parse().map_err(|_| bad())?;
                let proto = parts.next().ok_or_else(bad)?.to_owned();
                session.media.push(MediaLine {
                    kind,
                    port,
                    proto,
                    formats: parts.map(str::to_owned).collect(),
                    rtpmaps: Vec::new(),
                    direction: None,
                    connection: None,
                    cryptos: Vec::new(),
                    crypto_lines: 0,
                    dtls: DtlsLines::default(),
                });
            }
            "a" => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let direction = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(direction) = direction {
                    match session.media.last_mut() {
                        Some(m) => m.direction = Some(direction),
                        None => session.direction = Some(direction),
                    }
                } else if name == "rtpmap" {
                    if let (Some(m), Some(map)) = (session.media.last_mut(), parse_rtpmap(arg)) {
                        m.rtpmaps.push(map);
                    }
                } else if name == "crypto" {
                    if let Some(m) = session.media.last_mut() {
                        m.crypto_lines += 1;
                        m.cryptos.extend(Crypto::parse(arg));
                    }
                } else {
                    match session.media.last_mut() {
                        Some(m) => m.dtls.read(name, arg),
                        None => session.dtls.read(name, arg),
                    };
                }
            }
            _ => {}
        }
    }
    Ok(session)
}

/// `0 PCMU/8000` → `(0, "PCMU", 8000)`.
fn parse_rtpmap(arg: &str) -> Option<(u8, String, u32)> {
    let (pt, encoding) = arg.trim().split_once(' ')?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?.to_owned();
    let rate = parts.next()?.parse().ok()?;
    Some((pt.parse().ok()?, name, rate))
}

impl MediaLine {
    fn codec_of(&self, format: &str) -> Option<Codec> {
        let pt: u8 = format.parse().ok()?;
        if let Some((_, name, rate)) = self.rtpmaps.iter().find(|(p, _, _)| *p == pt) {
            return Codec::from_rtpmap(name, *rate);
        }
        Codec::from_static(pt)
    }

    fn dtmf_payload_type(&self) -> Option<u8> {
        self.rtpmaps
            .iter()
            .find(|(_, name, rate)| name.eq_ignore_ascii_case("telephone-event") && *rate == 8000)
            .map(|(pt, _, _)| *pt)
    }
}

impl SessionDescription {
    fn audio(&self) -> Result<(usize, &MediaLine), SdpError> {
        self.media
            .iter()
            .enumerate()
            .find(|(_, m)| m.kind == "audio" && m.port != 0)
            .ok_or(SdpError::NoAudio)
    }

    /// What the peer's description (offer or answer) says for audio, with
    /// the codec picked in the peer's order of preference, and SRTP as
    /// `encryption` allows: the first `a=crypto` we can use, in the
    /// peer's order (RFC 4568 §7.1.1). The codec is the first of `codecs`
    /// that the peer has, in our order (RFC 3264 §6.1 leaves the choice to
    /// the answerer; an answer to our offer names one or a few, and the
    /// peer's first that we have wins there too).
    pub fn negotiate(
        &self,
        encryption: Encryption,
        codecs: &Preference,
    ) -> Result<Negotiated, SdpError> {
        let (_, audio) = self.audio()?;
        let secure_profile = audio.secure_profile();
        let dtls = match encryption {
            Encryption::None => None,
            _ if audio.wants_dtls(&self.dtls) => Some(self.dtls_agreement(audio)?),
            _ => None,
        };
        let srtp = match (encryption, audio.cryptos.first()) {
            (Encryption::None, _) if secure_profile => {
                return Err(SdpError::EncryptionRefused("media_encryption = \"none\""))
            }
            (Encryption::None, _) => None,
            _ if dtls.is_some() => None,
            (Encryption::DtlsRequired, _) if audio.crypto_lines > 0 => {
                return Err(SdpError::EncryptionRefused(
                    "SDES keys, and media_encryption = \"dtls-required\" takes DTLS-SRTP only",
                ))
            }
            (Encryption::DtlsRequired, _) => return Err(SdpError::EncryptionRequired),
            (_, Some(crypto)) => Some(Keying {
                suite: crypto.suite,
                tag: crypto.tag,
                remote: crypto.key,
            }),
            (_, None) if secure_profile => {
                return Err(SdpError::EncryptionRefused(if audio.crypto_lines == 0 {
                    "no SDES key (a=crypto)"
                } else {
                    "no crypto suite Tandem speaks"
                }))
            }
            (Encryption::SdesRequired, None) => return Err(SdpError::EncryptionRequired),
            (Encryption::Sdes | Encryption::Dtls, None) => None,
        };
        let (codec, payload_type) = codecs
            .iter()
            .find_map(|wanted| {
                audio.formats.iter().find_map(|f| {
                    let pt: u8 = f.parse().ok()?;
                    (audio.codec_of(f)? == wanted).then_some((wanted, pt))
                })
            })
            .ok_or_else(|| {
                let ours: Vec<&str> = codecs.iter().map(Codec::name).collect();
                SdpError::NoCommonCodec(self.offered_names(audio), ours.join(", "))
            })?;
        let remote_ip = audio
            .connection
            .or(self.connection)
            .ok_or(SdpError::NoConnection)?;
        let theirs = audio
            .direction
            .or(self.direction)
            .unwrap_or(Direction::SendRecv);
        Ok(Negotiated {
            codec,
            payload_type,
            dtmf: audio.dtmf_payload_type(),
            remote_ip,
            remote_port: audio.port,
            direction: theirs.mirrored(),
            srtp,
            secure_profile,
            dtls,
        })
    }

    /// DTLS-SRTP with the peer of `audio`: OpenSSL must be here, and the
    /// peer must say which certificate it will present and may not hold
    /// the connection (`a=setup:holdconn`).
    fn dtls_agreement(&self, audio: &MediaLine) -> Result<dtls::Agreed, SdpError> {
        if dtls::local_fingerprint().is_err() {
            return Err(SdpError::EncryptionRefused(
                "DTLS-SRTP, which needs OpenSSL 3 (install libssl3)",
            ));
        }
        let lines = audio.dtls.or(&self.dtls);
        let peer = lines.fingerprint.ok_or(SdpError::EncryptionRefused(
            if lines.fingerprint_lines == 0 {
                "DTLS-SRTP without a certificate fingerprint (a=fingerprint)"
            } else {
                "DTLS-SRTP with a fingerprint other than SHA-256"
            },
        ))?;
        let role = Role::against(lines.setup).ok_or(SdpError::EncryptionRefused(
            "DTLS-SRTP with the connection held (a=setup:holdconn)",
        ))?;
        Ok(dtls::Agreed { role, peer })
    }

    fn offered_names(&self, audio: &MediaLine) -> Vec<String> {
        audio
            .formats
            .iter()
            .map(|f| {
                audio
                    .rtpmaps
                    .iter()
                    .find(|(pt, _, _)| pt.to_string() == *f)
                    .map_or_else(|| f.clone(), |(_, name, _)| name.clone())
            })
            .collect()
    }
}

/// What our side of a call's SDP carries besides addresses: the
/// encryption setting and the key we send with.
#[derive(Debug, Clone, Copy)]
pub struct Security {
    pub encryption: Encryption,
    pub key: MasterKey,
    /// The codecs we offer, best first.
    pub codecs: Preference,
}

/// Our offer: the preferred codecs in order, and telephone-event, 20 ms,
/// send and receive; with SDES, our key under each suite we speak
/// (RTP/SAVP when required).
pub fn offer(session_id: u64, ip: IpAddr, port: u16, security: &Security) -> String {
    let mut sdp = header(session_id, ip);
    // Without OpenSSL here, "dtls" offers SDES keys instead (the plugin
    // refuses to start with "dtls-required").
    let fingerprint = security
        .encryption
        .offers_dtls()
        .then(dtls::local_fingerprint)
        .and_then(Result::ok);
    let profile = match security.encryption {
        _ if fingerprint.is_some() => "UDP/TLS/RTP/SAVP",
        Encryption::SdesRequired | Encryption::DtlsRequired => "RTP/SAVP",
        _ => "RTP/AVP",
    };
    let formats: String = security
        .codecs
        .iter()
        .map(|c| format!("{} ", c.offered_payload_type()))
        .collect();
    sdp.push_str(&format!(
        "m=audio {port} {profile} {formats}{DTMF_PAYLOAD_TYPE}\r\n"
    ));
    for codec in security.codecs.iter() {
        push_rtpmap(&mut sdp, codec, codec.offered_payload_type());
    }
    sdp.push_str(&format!(
        "a=rtpmap:{DTMF_PAYLOAD_TYPE} telephone-event/8000\r\n\
         a=fmtp:{DTMF_PAYLOAD_TYPE} 0-16\r\n\
         a=ptime:20\r\n"
    ));
    if let Some(fingerprint) = fingerprint {
        // RFC 5763 §5: the offerer is actpass, so the answerer can be
        // active and start the handshake as soon as it answers.
        sdp.push_str(&fingerprint.line());
        sdp.push_str(&format!("a=setup:{}\r\n", Setup::ActPass.name()));
    } else if security.encryption.offers_keys() {
        for (tag, suite) in (1..).zip(Suite::ALL) {
            let crypto = Crypto {
                tag,
                suite,
                key: security.key,
            };
            sdp.push_str(&crypto.line());
        }
    }
    sdp.push_str("a=sendrecv\r\n");
    sdp
}

/// Our answer to `offer`: the agreed codec, telephone-event if offered, the
/// mirrored direction, our key under the agreed crypto tag, and every other
/// stream refused with port 0 (RFC 3264 §6: an answer has as many m-lines
/// as the offer).
pub fn answer(
    offer: &SessionDescription,
    agreed: &Negotiated,
    session_id: u64,
    (ip, port): (IpAddr, u16),
    key: &MasterKey,
) -> String {
    let mut sdp = header(session_id, ip);
    let audio_index = offer.audio().map(|(i, _)| i).ok();
    for (index, media) in offer.media.iter().enumerate() {
        if Some(index) != audio_index {
            let formats = media.formats.join(" ");
            sdp.push_str(&format!("m={} 0 {} {formats}\r\n", media.kind, media.proto));
            continue;
        }
        let pt = agreed.payload_type;
        let mut formats = pt.to_string();
        if let Some(dtmf) = agreed.dtmf {
            formats.push_str(&format!(" {dtmf}"));
        }
        let profile = if agreed.dtls.is_some() && media.proto.contains("TLS") {
            "UDP/TLS/RTP/SAVP"
        } else if agreed.secure_profile {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        };
        sdp.push_str(&format!("m=audio {port} {profile} {formats}\r\n"));
        push_rtpmap(&mut sdp, agreed.codec, pt);
        if let Some(keying) = agreed.srtp {
            let crypto = Crypto {
                tag: keying.tag,
                suite: keying.suite,
                key: *key,
            };
            sdp.push_str(&crypto.line());
        }
        if let (Some(agreed), Ok(ours)) = (agreed.dtls, dtls::local_fingerprint()) {
            sdp.push_str(&ours.line());
            sdp.push_str(&format!("a=setup:{}\r\n", agreed.role.setup().name()));
        }
        if let Some(dtmf) = agreed.dtmf {
            sdp.push_str(&format!(
                "a=rtpmap:{dtmf} telephone-event/8000\r\na=fmtp:{dtmf} 0-16\r\n"
            ));
        }
        sdp.push_str(&format!(
            "a=ptime:20\r\na={}\r\n",
            agreed.direction.attribute()
        ));
    }
    sdp
}

/// `a=rtpmap` (and `a=fmtp`, if the codec has parameters) for `codec`
/// under payload type `pt`.
fn push_rtpmap(sdp: &mut String, codec: Codec, pt: u8) {
    sdp.push_str(&format!("a=rtpmap:{pt} {}\r\n", codec.rtpmap()));
    if let Some(fmtp) = codec.fmtp() {
        sdp.push_str(&format!("a=fmtp:{pt} {fmtp}\r\n"));
    }
}

fn header(session_id: u64, ip: IpAddr) -> String {
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=tandem {session_id} {session_id} IN {family} {ip}\r\ns=Tandem\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\n"
    )
}

#[cfg(test)]
mod dtls_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// What sipp's uac_pcap scenario sends.
    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
        s=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    /// What baresip 1.0 offers (several codecs, media-level c=, LF only).
    const BARESIP_OFFER: &str = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n\
        m=audio 10000 RTP/AVP 96 9 0 8 101\nc=IN IP4 127.0.0.1\n\
        a=rtpmap:96 opus/48000/2\na=rtpmap:9 G722/8000\na=rtpmap:0 PCMU/8000\n\
        a=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=sendrecv\n\
        m=video 10002 RTP/AVP 97\na=rtpmap:97 H264/90000\n";

    #[test]
    fn sipp_offer_gets_pcma_and_dtmf() {
        let offer = parse(SIPP_OFFER.as_bytes()).unwrap();
        let agreed = offer.negotiate(Encryption::None, &g711()).unwrap();
        assert_eq!(agreed.codec, Codec::Pcma);
        assert_eq!(agreed.dtmf, Some(101));
        assert_eq!(agreed.remote_port, 6000);
        assert_eq!(agreed.remote_ip, IpAddr::from([127, 0, 0, 1]));
        assert!(!agreed.held());
    }

    #[test]
    fn baresip_offer_skips_what_we_lack_and_refuses_video() {
        let offer = parse(BARESIP_OFFER.as_bytes()).unwrap();
        let agreed = offer.negotiate(Encryption::None, &g711()).unwrap();
        assert_eq!(agreed.codec, Codec::Pcmu, "first offered codec we speak");
        let key = MasterKey::random().unwrap();
        let answer = answer(
            &offer,
            &agreed,
            7,
            (IpAddr::from([127, 0, 0, 1]), 4000),
            &key,
        );
        assert!(
            answer.contains("m=audio 4000 RTP/AVP 0 101\r\n"),
            "{answer}"
        );
        assert!(answer.contains("m=video 0 RTP/AVP 97\r\n"), "{answer}");
        let reparsed = parse(answer.as_bytes()).unwrap();
        assert_eq!(reparsed.media.len(), 2);
        assert_eq!(
            reparsed.negotiate(Encryption::None, &g711()).unwrap().codec,
            Codec::Pcmu
        );
    }

    #[test]
    fn our_order_picks_from_an_offer_and_the_answer_names_it() {
        let offered = parse(BARESIP_OFFER.as_bytes()).unwrap();
        let wide = Preference::new(&[Codec::G722, Codec::Pcmu], |_, _| {});
        let agreed = offered.negotiate(Encryption::None, &wide).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::G722, 9));
        let key = MasterKey::random().unwrap();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let answer = answer(&offered, &agreed, 7, (ip, 4000), &key);
        assert!(
            answer.contains("m=audio 4000 RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\n"),
            "{answer}"
        );
        // PCMA first in our order, though the offer lists PCMU first.
        let narrow = Preference::new(&[Codec::Pcma, Codec::Pcmu], |_, _| {});
        let agreed = offered.negotiate(Encryption::None, &narrow).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::Pcma, 8));
        // G.722 without an rtpmap is static payload type 9.
        let bare = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 9\r\n";
        let agreed = parse(bare.as_bytes())
            .unwrap()
            .negotiate(Encryption::None, &wide);
        assert_eq!(agreed.unwrap().codec, Codec::G722);
        // Our offer lists the codecs in our order, each with its rtpmap.
        let security = Security {
            encryption: Encryption::None,
            key,
            codecs: wide,
        };
        let sdp = offer(1, ip, 5004, &security);
        assert!(
            sdp.contains(
                "m=audio 5004 RTP/AVP 9 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
            ),
            "{sdp}"
        );
    }

    #[test]
    fn opus_is_taken_under_the_offered_type_and_answered_with_its_fmtp() {
        let offered = parse(BARESIP_OFFER.as_bytes()).unwrap();
        let opus_first = Preference::new(&[Codec::Opus, Codec::G722], |_, _| {});
        let agreed = offered.negotiate(Encryption::None, &opus_first).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::Opus, 96));
        let key = MasterKey::random().unwrap();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let answer = answer(&offered, &agreed, 7, (ip, 4000), &key);
        assert!(
            answer.contains(
                "m=audio 4000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\n\
                 a=fmtp:96 stereo=0;sprop-stereo=0;useinbandfec=1\r\n"
            ),
            "{answer}"
        );
        let security = Security {
            encryption: Encryption::None,
            key,
            codecs: opus_first,
        };
        let sdp = offer(1, ip, 5004, &security);
        assert!(sdp.contains("m=audio 5004 RTP/AVP 111 9 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:111 opus/48000/2\r\n"), "{sdp}");
    }

    #[test]
    fn nothing_usable_is_no_common_codec() {
        let sdp =
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
        let err = parse(sdp.as_bytes())
            .unwrap()
            .negotiate(Encryption::None, &g711())
            .unwrap_err();
        assert_eq!(
            err,
            SdpError::NoCommonCodec(vec!["opus".into()], "PCMU, PCMA".into())
        );
        let err = parse(b"v=0\r\nm=video 5000 RTP/AVP 97\r\n")
            .unwrap()
            .negotiate(Encryption::None, &g711());
        assert_eq!(err.unwrap_err(), SdpError::NoAudio);
    }

    #[test]
    fn hold_is_seen_both_ways() {
        let held = SIPP_OFFER.replace("a=fmtp:101 0-11,16\r\n", "a=sendonly\r\n");
        let agreed = parse(held.as_bytes())
            .unwrap()
            .negotiate(Encryption::None, &g711())
            .unwrap();
        assert_eq!(agreed.direction, Direction::RecvOnly);
        assert!(agreed.held());
        let old_style = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse(old_style.as_bytes())
            .unwrap()
            .negotiate(Encryption::None, &g711())
            .unwrap()
            .held());
    }

    #[test]
    fn our_offer_parses_as_we_expect() {
        let sdp = offer(1, IpAddr::from([127, 0, 0, 1]), 5004, &plain());
        let agreed = parse(sdp.as_bytes())
            .unwrap()
            .negotiate(Encryption::None, &g711())
            .unwrap();
        assert_eq!(
            (agreed.codec, agreed.dtmf, agreed.remote_port),
            (Codec::Pcmu, Some(101), 5004)
        );
    }

    fn plain() -> Security {
        Security {
            encryption: Encryption::None,
            key: MasterKey::random().unwrap(),
            codecs: g711(),
        }
    }

    /// What Tandem spoke before G.722 and Opus, the order the older
    /// tests here were written for.
    fn g711() -> Preference {
        Preference::new(&[Codec::Pcmu, Codec::Pcma], |_, _| {})
    }

    /// What baresip's `srtp` module offers (`mediaenc srtp`: best effort,
    /// RTP/AVP) and, with `srtp-mand`, the same as RTP/SAVP.
    const BARESIP_SRTP_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 10000 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.1\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
        a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:dGhpcnR5LXR3by1ieXRlcy1rZXktYW5kLXNhbHQtLS0tLS0tLS0tLQ==\r\n\
        a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n\
        a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";

    #[test]
    fn sdes_takes_the_first_suite_we_speak_and_answers_with_our_key() {
        let offer = parse(BARESIP_SRTP_OFFER.as_bytes()).unwrap();
        for encryption in [Encryption::Sdes, Encryption::SdesRequired] {
            let agreed = offer.negotiate(encryption, &g711()).unwrap();
            let keying = agreed.srtp.expect("SRTP agreed");
            assert_eq!((keying.tag, keying.suite), (2, Suite::AesCm128HmacSha1_32));
            let ours = MasterKey::random().unwrap();
            let answer = answer(
                &offer,
                &agreed,
                7,
                (IpAddr::from([127, 0, 0, 1]), 4000),
                &ours,
            );
            assert!(
                answer.contains("m=audio 4000 RTP/AVP 0 101\r\n"),
                "{answer}"
            );
            let back = parse(answer.as_bytes()).unwrap();
            assert_eq!(back.media[0].cryptos.len(), 1, "{answer}");
            assert_eq!(back.media[0].cryptos[0].key, ours);
            assert_eq!(back.media[0].cryptos[0].tag, 2);
        }
        // Not asked to encrypt: plain RTP, as the RTP/AVP offer allows.
        assert_eq!(
            offer.negotiate(Encryption::None, &g711()).unwrap().srtp,
            None
        );
        // Mandatory SRTP: the answer says RTP/SAVP back.
        let savp = BARESIP_SRTP_OFFER.replace("RTP/AVP", "RTP/SAVP");
        let savp = parse(savp.as_bytes()).unwrap();
        let agreed = savp.negotiate(Encryption::Sdes, &g711()).unwrap();
        let key = MasterKey::random().unwrap();
        let answer = answer(
            &savp,
            &agreed,
            7,
            (IpAddr::from([127, 0, 0, 1]), 4000),
            &key,
        );
        assert!(
            answer.contains("m=audio 4000 RTP/SAVP 0 101\r\n"),
            "{answer}"
        );
        assert_eq!(
            savp.negotiate(Encryption::None, &g711()).unwrap_err(),
            SdpError::EncryptionRefused("media_encryption = \"none\"")
        );
    }

    #[test]
    fn required_refuses_plain_offers_and_savp_needs_a_usable_key() {
        let plain_offer = parse(SIPP_OFFER.as_bytes()).unwrap();
        assert_eq!(
            plain_offer
                .negotiate(Encryption::SdesRequired, &g711())
                .unwrap_err(),
            SdpError::EncryptionRequired
        );
        assert_eq!(
            plain_offer
                .negotiate(Encryption::Sdes, &g711())
                .unwrap()
                .srtp,
            None
        );
        let unknown_suite = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/SAVP 0\r\n\
            a=crypto:1 AEAD_AES_256_GCM inline:AAAA\r\n";
        assert!(matches!(
            parse(unknown_suite.as_bytes())
                .unwrap()
                .negotiate(Encryption::Sdes, &g711()),
            Err(SdpError::EncryptionRefused(_))
        ));
    }

    #[test]
    fn our_offers_carry_keys_as_configured() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let key = MasterKey::random().unwrap();
        let none = offer(1, ip, 5004, &plain());
        assert!(
            none.contains("RTP/AVP") && !none.contains("a=crypto"),
            "{none}"
        );
        for (encryption, profile) in [
            (Encryption::Sdes, "RTP/AVP"),
            (Encryption::SdesRequired, "RTP/SAVP"),
        ] {
            let sdp = offer(
                1,
                ip,
                5004,
                &Security {
                    encryption,
                    key,
                    codecs: g711(),
                },
            );
            let parsed = parse(sdp.as_bytes()).unwrap();
            assert_eq!(parsed.media[0].proto, profile);
            let suites: Vec<_> = parsed.media[0]
                .cryptos
                .iter()
                .map(|c| (c.tag, c.suite))
                .collect();
            assert_eq!(
                suites,
                [
                    (1, Suite::AesCm128HmacSha1_80),
                    (2, Suite::AesCm128HmacSha1_32)
                ]
            );
            assert!(parsed.media[0].cryptos.iter().all(|c| c.key == key));
            // Our own offer read back as an answer agrees on the first suite.
            let agreed = parsed.negotiate(encryption, &g711()).unwrap();
            assert_eq!(
                agreed.srtp.map(|k| k.suite),
                Some(Suite::AesCm128HmacSha1_80)
            );
        }
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        assert_eq!(parse(&[0xFF, 0xFE]).unwrap_err(), SdpError::NotText);
        assert!(matches!(
            parse(b"m=audio notaport RTP/AVP 0").unwrap_err(),
            SdpError::BadLine(_)
        ));
        assert!(matches!(
            parse(b"c=IN IP4 999.1.1.1").unwrap_err(),
            SdpError::BadLine(_)
        ));
        assert_eq!(
            parse(b"m=audio 5000 RTP/AVP 0")
                .unwrap()
                .negotiate(Encryption::None, &g711())
                .unwrap_err(),
            SdpError::NoConnection
        );
        for junk in ["=", "a=rtpmap:", "a=rtpmap:x y/z", "m=", "c=IN"] {
            let _ = parse(junk.as_bytes()).map(|s| s.negotiate(Encryption::None, &g711()));
        }
    }
}
