//! SDP (RFC 4566) for one audio stream, and the offer/answer rules of
//! RFC 3264 that Tandem needs: G.711 plus RFC 4733 telephone-events.
//!
//! Only what is needed is parsed; unknown lines are ignored, as SDP wants.

use std::net::IpAddr;

use super::g711::Codec;

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
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionDescription {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaLine>,
}

/// What both sides agreed on for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The telephone-event payload type, when both sides have it.
    pub dtmf: Option<u8>,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
    /// Our direction.
    pub direction: Direction,
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
    #[error("no common codec: offered {0:?}, Tandem speaks PCMU and PCMA")]
    NoCommonCodec(Vec<String>),
}

pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session = SessionDescription {
        connection: None,
        direction: None,
        media: Vec::new(),
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
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
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
    /// the codec picked in the peer's order of preference.
    pub fn negotiate(&self) -> Result<Negotiated, SdpError> {
        let (_, audio) = self.audio()?;
        let codec = audio
            .formats
            .iter()
            .find_map(|f| audio.codec_of(f))
            .ok_or_else(|| SdpError::NoCommonCodec(self.offered_names(audio)))?;
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
            dtmf: audio.dtmf_payload_type(),
            remote_ip,
            remote_port: audio.port,
            direction: theirs.mirrored(),
        })
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

/// Our offer: PCMU, PCMA and telephone-event, 20 ms, send and receive.
pub fn offer(session_id: u64, ip: IpAddr, port: u16) -> String {
    let mut sdp = header(session_id, ip);
    sdp.push_str(&format!(
        "m=audio {port} RTP/AVP 0 8 {DTMF_PAYLOAD_TYPE}\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{DTMF_PAYLOAD_TYPE} telephone-event/8000\r\n\
         a=fmtp:{DTMF_PAYLOAD_TYPE} 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    ));
    sdp
}

/// Our answer to `offer`: the agreed codec, telephone-event if offered, the
/// mirrored direction, and every other stream refused with port 0
/// (RFC 3264 §6: an answer has as many m-lines as the offer).
pub fn answer(
    offer: &SessionDescription,
    agreed: &Negotiated,
    session_id: u64,
    ip: IpAddr,
    port: u16,
) -> String {
    let mut sdp = header(session_id, ip);
    let audio_index = offer.audio().map(|(i, _)| i).ok();
    for (index, media) in offer.media.iter().enumerate() {
        if Some(index) != audio_index {
            let formats = media.formats.join(" ");
            sdp.push_str(&format!("m={} 0 {} {formats}\r\n", media.kind, media.proto));
            continue;
        }
        let pt = agreed.codec.payload_type();
        let mut formats = pt.to_string();
        if let Some(dtmf) = agreed.dtmf {
            formats.push_str(&format!(" {dtmf}"));
        }
        sdp.push_str(&format!(
            "m=audio {port} RTP/AVP {formats}\r\na=rtpmap:{pt} {}/8000\r\n",
            agreed.codec.name()
        ));
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

fn header(session_id: u64, ip: IpAddr) -> String {
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=tandem {session_id} {session_id} IN {family} {ip}\r\ns=Tandem\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\n"
    )
}

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
        let agreed = offer.negotiate().unwrap();
        assert_eq!(agreed.codec, Codec::Pcma);
        assert_eq!(agreed.dtmf, Some(101));
        assert_eq!(agreed.remote_port, 6000);
        assert_eq!(agreed.remote_ip, IpAddr::from([127, 0, 0, 1]));
        assert!(!agreed.held());
    }

    #[test]
    fn baresip_offer_skips_what_we_lack_and_refuses_video() {
        let offer = parse(BARESIP_OFFER.as_bytes()).unwrap();
        let agreed = offer.negotiate().unwrap();
        assert_eq!(agreed.codec, Codec::Pcmu, "first offered codec we speak");
        let answer = answer(&offer, &agreed, 7, IpAddr::from([127, 0, 0, 1]), 4000);
        assert!(
            answer.contains("m=audio 4000 RTP/AVP 0 101\r\n"),
            "{answer}"
        );
        assert!(answer.contains("m=video 0 RTP/AVP 97\r\n"), "{answer}");
        let reparsed = parse(answer.as_bytes()).unwrap();
        assert_eq!(reparsed.media.len(), 2);
        assert_eq!(reparsed.negotiate().unwrap().codec, Codec::Pcmu);
    }

    #[test]
    fn nothing_usable_is_no_common_codec() {
        let sdp =
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
        let err = parse(sdp.as_bytes()).unwrap().negotiate().unwrap_err();
        assert_eq!(err, SdpError::NoCommonCodec(vec!["opus".into()]));
        let err = parse(b"v=0\r\nm=video 5000 RTP/AVP 97\r\n")
            .unwrap()
            .negotiate();
        assert_eq!(err.unwrap_err(), SdpError::NoAudio);
    }

    #[test]
    fn hold_is_seen_both_ways() {
        let held = SIPP_OFFER.replace("a=fmtp:101 0-11,16\r\n", "a=sendonly\r\n");
        let agreed = parse(held.as_bytes()).unwrap().negotiate().unwrap();
        assert_eq!(agreed.direction, Direction::RecvOnly);
        assert!(agreed.held());
        let old_style = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse(old_style.as_bytes())
            .unwrap()
            .negotiate()
            .unwrap()
            .held());
    }

    #[test]
    fn our_offer_parses_as_we_expect() {
        let sdp = offer(1, IpAddr::from([127, 0, 0, 1]), 5004);
        let agreed = parse(sdp.as_bytes()).unwrap().negotiate().unwrap();
        assert_eq!(
            (agreed.codec, agreed.dtmf, agreed.remote_port),
            (Codec::Pcmu, Some(101), 5004)
        );
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
                .negotiate()
                .unwrap_err(),
            SdpError::NoConnection
        );
        for junk in ["=", "a=rtpmap:", "a=rtpmap:x y/z", "m=", "c=IN"] {
            let _ = parse(junk.as_bytes()).map(|s| s.negotiate());
        }
    }
}
