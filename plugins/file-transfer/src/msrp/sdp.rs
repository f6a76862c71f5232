//! The SDP of a file transfer (RFC 5547 on RFC 4975 §8): the
//! `m=message … TCP/MSRP *` stream, its `a=path`, direction, `a=setup`
//! (RFC 6135), and the file it is about — `a=file-selector` (name, type,
//! size, hash) and `a=file-transfer-id`. Read from an offer, written for
//! an answer or an offer of our own. Pure text in and out: the SIP plugin
//! carries it, this plugin owns its meaning (docs/decisions/0066).

use std::fmt::Write as _;

use thiserror::Error;

use super::uri::MsrpUri;

/// The longest SDP read (an offer of one file is well under 2 KiB).
const MAX_SDP: usize = 16 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("the session description is longer than {MAX_SDP} bytes")]
    TooLong,
    #[error("the session offers no MSRP stream")]
    NoMsrp,
    #[error("the session offers other media beside the file")]
    NotOnlyAFile,
    #[error("the MSRP stream has no usable a=path: {0}")]
    Path(String),
    #[error("the MSRP stream names no file (a=file-selector)")]
    NoFile,
    #[error("the file description is unusable: {0}")]
    Selector(&'static str),
}

/// Which way the file goes, from the describing side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendOnly,
    RecvOnly,
    SendRecv,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::SendRecv => "sendrecv",
        }
    }
}

/// RFC 6135 `a=setup`: who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Active,
    Passive,
    ActPass,
}

impl Setup {
    fn parse(text: &str) -> Option<Setup> {
        match text {
            "active" => Some(Setup::Active),
            "passive" => Some(Setup::Passive),
            "actpass" => Some(Setup::ActPass),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
        }
    }
}

/// `a=file-selector` (RFC 5547 §6): each part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSelector {
    pub name: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
    /// `(algorithm, lower-case hex)`, e.g. `("sha-1", "7224…")`.
    pub hashes: Vec<(String, String)>,
}

impl FileSelector {
    /// The SHA-256 offered, if one was (the one Tandem can check).
    pub fn sha256(&self) -> Option<&str> {
        self.hashes
            .iter()
            .find(|(algo, _)| algo == "sha-256")
            .map(|(_, hex)| hex.as_str())
    }

    pub fn parse(text: &str) -> Result<FileSelector, SdpError> {
        let mut selector = FileSelector::default();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (key, after) = rest
                .split_once(':')
                .ok_or(SdpError::Selector("a part without a name"))?;
            rest = after;
            let value = if key == "name" {
                // A quoted string; `"` inside is percent-encoded (§6).
                let quoted = rest
                    .strip_prefix('"')
                    .ok_or(SdpError::Selector("a name without quotes"))?;
                let end = quoted
                    .find('"')
                    .ok_or(SdpError::Selector("a name without its closing quote"))?;
                rest = &quoted[end + 1..];
                percent_decoded(&quoted[..end])
            } else {
                let end = rest.find(' ').unwrap_or(rest.len());
                let value = rest[..end].to_owned();
                rest = &rest[end..];
                value
            };
            rest = rest.trim_start();
            match key {
                "name" => selector.name = Some(value),
                "type" => selector.media_type = Some(value),
                "size" => {
                    let size = value
                        .parse()
                        .map_err(|_| SdpError::Selector("a size that is not a number"))?;
                    selector.size = Some(size);
                }
                "hash" => {
                    let (algo, hex) = value
                        .split_once(':')
                        .ok_or(SdpError::Selector("a hash without algorithm"))?;
                    let hex: String = hex.split(':').collect::<String>().to_ascii_lowercase();
                    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(SdpError::Selector("a hash that is not hexadecimal"));
                    }
                    selector.hashes.push((algo.to_ascii_lowercase(), hex));
                }
                // Unknown selectors are ignored (§6: extensible).
                _ => {}
            }
        }
        if selector.name.is_none() && selector.size.is_none() && selector.hashes.is_empty() {
            return Err(SdpError::Selector("it names nothing"));
        }
        Ok(selector)
    }

    /// As written after `a=file-selector:`. Hashes as RFC 4572 has them:
    /// upper-case byte pairs separated by colons.
    pub fn to_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(name) = &self.name {
            parts.push(format!("name:\"{}\"", percent_encoded(name)));
        }
        if let Some(t) = &self.media_type {
            parts.push(format!("type:{t}"));
        }
        if let Some(size) = self.size {
            parts.push(format!("size:{size}"));
        }
        for (algo, hex) in &self.hashes {
            let pairs: Vec<String> = hex
                .as_bytes()
                .chunks(2)
                .map(|p| String::from_utf8_lossy(p).to_ascii_uppercase())
                .collect();
            parts.push(format!("hash:{algo}:{}", pairs.join(":")));
        }
        parts.join(" ")
    }
}

/// `"`, `%` and line ends inside a quoted name.
fn percent_encoded(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' | '%' | '\r' | '\n' | '\0' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file stream of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStream {
    /// The describing side's path: relays first, its own URI last.
    pub path: Vec<MsrpUri>,
    pub direction: Direction,
    /// Absent when the description says nothing; [`FileStream::we_connect`]
    /// applies the defaults.
    pub setup: Option<Setup>,
    pub selector: FileSelector,
    pub transfer_id: Option<String>,
    /// `m=message <port>`: the port the path's last URI should agree with.
    pub port: u16,
}

impl FileStream {
    /// Reads the one file stream of `sdp`; other live media refuse it (a
    /// file inside a call is not page mode: not this path).
    pub fn parse(sdp: &str) -> Result<FileStream, SdpError> {
        if sdp.len() > MAX_SDP {
            return Err(SdpError::TooLong);
        }
        let mut session_direction = None;
        let mut stream: Option<FileStream> = None;
        let mut in_message = false;
        let mut selector = None;
        let mut other_live = false;
        for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
            if let Some(media) = line.strip_prefix("m=") {
                let fields: Vec<&str> = media.split_ascii_whitespace().collect();
                let live = fields.get(1).is_some_and(|p| *p != "0");
                let msrp = fields.first() == Some(&"message")
                    && fields
                        .get(2)
                        .is_some_and(|p| matches!(*p, "TCP/MSRP" | "TCP/TLS/MSRP"));
                if msrp && live && stream.is_none() {
                    in_message = true;
                    stream = Some(FileStream {
                        path: Vec::new(),
                        direction: Direction::SendRecv,
                        setup: None,
                        selector: FileSelector::default(),
                        transfer_id: None,
                        port: fields[1].parse().unwrap_or(0),
                    });
                } else {
                    other_live |= live;
                    in_message = false;
                }
                continue;
            }
            let Some(attr) = line.strip_prefix("a=") else {
                continue;
            };
            let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
            let direction = match name {
                "sendonly" => Some(Direction::SendOnly),
                "recvonly" => Some(Direction::RecvOnly),
                "sendrecv" => Some(Direction::SendRecv),
                _ => None,
            };
            match (&mut stream, in_message) {
                (None, _) => session_direction = direction.or(session_direction),
                (Some(s), true) => {
                    if let Some(d) = direction {
                        s.direction = d;
                    }
                    match name {
                        "path" => {
                            s.path = MsrpUri::parse_path(value)
                                .map_err(|e| SdpError::Path(e.to_string()))?
                        }
                        "setup" => s.setup = Setup::parse(value),
                        "file-selector" => selector = Some(FileSelector::parse(value)?),
                        "file-transfer-id" => s.transfer_id = Some(value.to_owned()),
                        _ => {}
                    }
                }
                (Some(_), false) => {}
            }
        }
        let mut stream = stream.ok_or(SdpError::NoMsrp)?;
        if other_live {
            return Err(SdpError::NotOnlyAFile);
        }
        if stream.path.is_empty() {
            return Err(SdpError::Path("none given".into()));
        }
        // A session-level direction applies unless the stream has its own.
        if let (Some(d), Direction::SendRecv) = (session_direction, stream.direction) {
            stream.direction = d;
        }
        stream.selector = selector.ok_or(SdpError::NoFile)?;
        Ok(stream)
    }

    /// Whether the side reading `self` (the other side's description)
    /// opens the connection. RFC 6135: an answerer is active unless the
    /// offer says `active`; an offerer is active when the answer says
    /// `passive`. Absent in an offer means RFC 4975's rule, the offerer
    /// passive.
    pub fn we_connect(&self, self_is_offer: bool) -> bool {
        match (self_is_offer, self.setup) {
            (true, Some(Setup::Active)) => false,
            (true, _) => true,
            (false, Some(Setup::Passive)) => true,
            (false, _) => false,
        }
    }

    /// The description written out: a whole SDP with this one stream.
    /// `address` is the connection address (IPv4 or IPv6), `origin_id`
    /// the `o=` session id and version.
    pub fn to_sdp(&self, address: &str, origin_id: u64) -> String {
        let family = if address.contains(':') { "IP6" } else { "IP4" };
        let proto = if self.path.last().is_some_and(|u| u.secure) {
            "TCP/TLS/MSRP"
        } else {
            "TCP/MSRP"
        };
        let mut s = String::with_capacity(512);
        let _ = write!(
            s,
            "v=0\r\no=tandem {origin_id} {origin_id} IN {family} {address}\r\ns=-\r\n\
c=IN {family} {address}\r\nt=0 0\r\nm=message {} {proto} *\r\n",
            self.port
        );
        let _ = write!(s, "a={}\r\n", self.direction.as_str());
        s.push_str("a=accept-types:*\r\n");
        let _ = write!(s, "a=path:{}\r\n", super::uri::path_text(&self.path));
        if let Some(setup) = self.setup {
            let _ = write!(s, "a=setup:{}\r\n", setup.as_str());
        }
        let _ = write!(s, "a=file-selector:{}\r\n", self.selector.to_text());
        if let Some(id) = &self.transfer_id {
            let _ = write!(s, "a=file-transfer-id:{id}\r\n");
        }
        s
    }

    /// The answer of a receiver that takes the file (RFC 5547 §8.2.1):
    /// `recvonly`, our own path, the offer's selector and transfer id, and
    /// `setup:active` unless the offer took that role.
    pub fn answer(&self, path: Vec<MsrpUri>, port: u16) -> FileStream {
        FileStream {
            path,
            direction: Direction::RecvOnly,
            setup: Some(if self.we_connect(true) {
                Setup::Active
            } else {
                Setup::Passive
            }),
            selector: self.selector.clone(),
            transfer_id: self.transfer_id.clone(),
            port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5547 §9.1's offer (Alice sends a picture; the SDP part of
    /// Figure 8's multipart body). The RFC splits the file-selector over
    /// lines "for formatting purposes" (real ones are one line): joined
    /// with one space between selectors, none inside the hash.
    const RFC5547_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 alicepc.example.com\r\n\
s=\r\n\
c=IN IP4 alicepc.example.com\r\n\
t=0 0\r\n\
m=message 7654 TCP/MSRP *\r\n\
i=This is my latest picture\r\n\
a=sendonly\r\n\
a=accept-types:message/cpim\r\n\
a=accept-wrapped-types:*\r\n\
a=path:msrp://alicepc.example.com:7654/jshA7we;tcp\r\n\
a=file-selector:name:\"My cool picture.jpg\" type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E\r\n\
a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE\r\n\
a=file-disposition:render\r\n\
a=file-date:creation:\"Mon, 15 May 2006 15:01:31 +0300\"\r\n\
a=file-icon:cid:id2@alicepc.example.com\r\n";

    #[test]
    fn the_rfc_5547_offer_reads_as_a_file() {
        let offer = FileStream::parse(RFC5547_OFFER).unwrap();
        assert_eq!(offer.direction, Direction::SendOnly);
        assert_eq!(offer.port, 7654);
        assert_eq!(
            offer.path[0].to_string(),
            "msrp://alicepc.example.com:7654/jshA7we;tcp"
        );
        assert_eq!(offer.selector.name.as_deref(), Some("My cool picture.jpg"));
        assert_eq!(offer.selector.media_type.as_deref(), Some("image/jpeg"));
        assert_eq!(offer.selector.size, Some(4092));
        assert_eq!(
            offer.selector.hashes,
            [(
                "sha-1".to_owned(),
                "72245fe8653ddaf371362f86d471913ee4a2ce2e".to_owned()
            )]
        );
        assert_eq!(offer.selector.sha256(), None);
        assert_eq!(
            offer.transfer_id.as_deref(),
            Some("Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE")
        );
        // No a=setup: the answerer connects.
        assert!(offer.we_connect(true));
    }

    #[test]
    fn the_selector_writes_back_as_the_rfc_has_it() {
        let line = "name:\"My cool picture.jpg\" type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E";
        assert_eq!(FileSelector::parse(line).unwrap().to_text(), line);
    }

    #[test]
    fn an_answer_takes_the_file_and_connects() {
        let offer = FileStream::parse(RFC5547_OFFER).unwrap();
        let ours = MsrpUri::tcp("192.0.2.5", 9, "rcv12345");
        let answer = offer.answer(vec![ours.clone()], 9);
        let sdp = answer.to_sdp("192.0.2.5", 42);
        assert!(sdp.contains("m=message 9 TCP/MSRP *\r\n"), "{sdp}");
        assert!(sdp.contains("a=recvonly\r\n"));
        assert!(sdp.contains("a=setup:active\r\n"));
        assert!(sdp.contains("a=path:msrp://192.0.2.5:9/rcv12345;tcp\r\n"));
        assert!(sdp.contains("a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE\r\n"));
        // And the offerer reads it back: it waits for our connection.
        let read = FileStream::parse(&sdp).unwrap();
        assert_eq!(read.direction, Direction::RecvOnly);
        assert_eq!(read.path, [ours]);
        assert!(!read.we_connect(false));
    }

    #[test]
    fn names_with_quotes_survive_and_stay_inside_their_quotes() {
        let selector = FileSelector {
            name: Some("a \"b\" 100%.txt".into()),
            size: Some(3),
            hashes: vec![("sha-256".into(), "ab".repeat(32))],
            ..Default::default()
        };
        let text = selector.to_text();
        assert!(text.starts_with("name:\"a %22b%22 100%25.txt\" size:3 hash:sha-256:AB:AB"));
        let back = FileSelector::parse(&text).unwrap();
        assert_eq!(back, selector);
        assert_eq!(back.sha256(), Some("ab".repeat(32).as_str()));
    }

    #[test]
    fn what_is_not_a_file_offer_is_refused() {
        let audio = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(FileStream::parse(audio), Err(SdpError::NoMsrp));
        let both = format!("{RFC5547_OFFER}m=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(FileStream::parse(&both), Err(SdpError::NotOnlyAFile));
        let no_file = RFC5547_OFFER.replace("a=file-selector", "a=x-selector");
        assert_eq!(FileStream::parse(&no_file), Err(SdpError::NoFile));
        let no_path = RFC5547_OFFER.replace("a=path:", "a=x-path:");
        assert!(matches!(
            FileStream::parse(&no_path),
            Err(SdpError::Path(_))
        ));
        for bad in [
            "name:\"unterminated",
            "size:big",
            "hash:sha-256:zz",
            "hash:sha-256",
            "type:x/y",
            "nothing",
        ] {
            assert!(FileSelector::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            FileStream::parse(&"a".repeat(MAX_SDP + 1)),
            Err(SdpError::TooLong)
        );
    }
}
