//! One MSRP request or response (RFC 4975 §7, §9): its start line and
//! headers, typed, and how they are written. The body is not here: it
//! streams (see `parser`), and the end-line that closes a frame carries a
//! flag saying whether the message is complete, continues, or was
//! abandoned.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

use super::error::FrameError;
use super::uri::{path_text, MsrpUri};

/// The seven dashes before the transaction id on an end-line.
pub const END_DASHES: &str = "-------";

/// A request method (RFC 4975 §7, RFC 4976 for AUTH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Send,
    Report,
    Auth,
    /// Answered 501 (RFC 4975 §7.3).
    Other(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Send => "SEND",
            Method::Report => "REPORT",
            Method::Auth => "AUTH",
            Method::Other(other) => other,
        }
    }
}

/// The end-line's continuation flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `$`: the last chunk of the message.
    Complete,
    /// `+`: more chunks follow.
    More,
    /// `#`: the sender abandoned the message.
    Aborted,
}

impl Flag {
    pub fn from_byte(b: u8) -> Option<Flag> {
        match b {
            b'$' => Some(Flag::Complete),
            b'+' => Some(Flag::More),
            b'#' => Some(Flag::Aborted),
            _ => None,
        }
    }

    pub fn as_char(self) -> char {
        match self {
            Flag::Complete => '$',
            Flag::More => '+',
            Flag::Aborted => '#',
        }
    }
}

/// `Byte-Range: start-end/total`, 1-based and inclusive; `*` is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
    pub total: Option<u64>,
}

impl ByteRange {
    fn parse(text: &str) -> Result<ByteRange, FrameError> {
        let bad = |why| FrameError::Header {
            name: "Byte-Range",
            why,
        };
        let (range, total) = text.split_once('/').ok_or(bad("no total"))?;
        let (start, end) = range.split_once('-').ok_or(bad("no end"))?;
        let number_or_star = |t: &str| -> Result<Option<u64>, FrameError> {
            match t {
                "*" => Ok(None),
                _ if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                    t.parse().map(Some).map_err(|_| bad("number too large"))
                }
                _ => Err(bad("not a number")),
            }
        };
        let start = number_or_star(start)?.ok_or(bad("no start"))?;
        let end = number_or_star(end)?;
        let total = number_or_star(total)?;
        if start == 0 {
            return Err(bad("starts at 0"));
        }
        if end.is_some_and(|e| e + 1 < start) || total.zip(end).is_some_and(|(t, e)| e > t) {
            return Err(bad("ends outside the message"));
        }
        Ok(ByteRange { start, end, total })
    }
}

fn star(value: Option<u64>) -> String {
    value.map_or_else(|| "*".to_owned(), |v| v.to_string())
}

impl std::fmt::Display for ByteRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}/{}", self.start, star(self.end), star(self.total))
    }
}

/// `Success-Report` and `Failure-Report` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    Yes,
    No,
    /// Failure-Report only: errors are answered, successes are not.
    Partial,
}

impl ReportMode {
    fn parse(name: &'static str, text: &str) -> Result<ReportMode, FrameError> {
        match text {
            "yes" => Ok(ReportMode::Yes),
            "no" => Ok(ReportMode::No),
            "partial" if name == "Failure-Report" => Ok(ReportMode::Partial),
            _ => Err(FrameError::Header {
                name,
                why: "neither yes nor no",
            }),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ReportMode::Yes => "yes",
            ReportMode::No => "no",
            ReportMode::Partial => "partial",
        }
    }
}

/// `Status: 000 200 OK` in a REPORT (RFC 4975 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub namespace: u16,
    pub code: u16,
    pub comment: Option<String>,
}

impl Status {
    fn parse(text: &str) -> Result<Status, FrameError> {
        let bad = |why| FrameError::Header {
            name: "Status",
            why,
        };
        let mut parts = text.splitn(3, ' ');
        let namespace = three_digits(parts.next().unwrap_or("")).ok_or(bad("no namespace"))?;
        let code = three_digits(parts.next().unwrap_or("")).ok_or(bad("no code"))?;
        Ok(Status {
            namespace,
            code,
            comment: parts.next().map(str::to_owned),
        })
    }
}

fn three_digits(text: &str) -> Option<u16> {
    (text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// What the start line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Request(Method),
    Response { code: u16, comment: Option<String> },
}

/// A frame's start line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub tid: String,
    pub kind: Kind,
    pub to_path: Vec<MsrpUri>,
    pub from_path: Vec<MsrpUri>,
    pub message_id: Option<String>,
    pub byte_range: Option<ByteRange>,
    pub success_report: Option<ReportMode>,
    pub failure_report: Option<ReportMode>,
    pub status: Option<Status>,
    /// Present exactly when the frame has a body (RFC 4975 §7.1).
    pub content_type: Option<String>,
    /// Every other header (relay ones such as WWW-Authenticate, Expires,
    /// Use-Path; MIME ones such as Content-Disposition), in order.
    pub other: Vec<(String, String)>,
}

impl Head {
    pub fn request(tid: &str, method: Method, to: Vec<MsrpUri>, from: Vec<MsrpUri>) -> Head {
        Head {
            tid: tid.to_owned(),
            kind: Kind::Request(method),
            to_path: to,
            from_path: from,
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: None,
            status: None,
            content_type: None,
            other: Vec::new(),
        }
    }

    /// The response to `request` (RFC 4975 §7.2): its transaction id, the
    /// To-Path the request's sender's own hop, the From-Path ours.
    pub fn response(request: &Head, code: u16, comment: &str) -> Head {
        let mut head = Head::request(&request.tid, Method::Send, Vec::new(), Vec::new());
        head.kind = Kind::Response {
            code,
            comment: Some(comment.to_owned()),
        };
        head.to_path = request.from_path.first().cloned().into_iter().collect();
        head.from_path = request.to_path.last().cloned().into_iter().collect();
        head
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.kind {
            Kind::Request(m) => Some(m),
            Kind::Response { .. } => None,
        }
    }

    pub fn other(&self, name: &str) -> Option<&str> {
        self.other
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The start line and headers as sent, and the blank line before a
    /// body when there is one.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256);
        match &self.kind {
            Kind::Request(m) => {
                let _ = write!(s, "MSRP {} {}\r\n", self.tid, m.as_str());
            }
            Kind::Response { code, comment } => {
                let _ = write!(s, "MSRP {} {code:03}", self.tid);
                if let Some(c) = comment {
                    let _ = write!(s, " {c}");
                }
                s.push_str("\r\n");
            }
        }
        let _ = write!(s, "To-Path: {}\r\n", path_text(&self.to_path));
        let _ = write!(s, "From-Path: {}\r\n", path_text(&self.from_path));
        if let Some(id) = &self.message_id {
            let _ = write!(s, "Message-ID: {id}\r\n");
        }
        if let Some(r) = &self.byte_range {
            let _ = write!(s, "Byte-Range: {r}\r\n");
        }
        if let Some(r) = self.success_report {
            let _ = write!(s, "Success-Report: {}\r\n", r.as_str());
        }
        if let Some(r) = self.failure_report {
            let _ = write!(s, "Failure-Report: {}\r\n", r.as_str());
        }
        if let Some(st) = &self.status {
            let _ = write!(s, "Status: {:03} {:03}", st.namespace, st.code);
            if let Some(c) = &st.comment {
                let _ = write!(s, " {c}");
            }
            s.push_str("\r\n");
        }
        for (name, value) in &self.other {
            let _ = write!(s, "{name}: {value}\r\n");
        }
        if let Some(ct) = &self.content_type {
            let _ = write!(s, "Content-Type: {ct}\r\n\r\n");
        }
        s.into_bytes()
    }

    /// Takes one header line (`Name: value`).
    pub(super) fn add_header(&mut self, line: &str) -> Result<(), FrameError> {
        let (name, value) = line.split_once(':').ok_or(FrameError::Header {
            name: "(unnamed)",
            why: "no colon",
        })?;
        let value = value.trim_matches(' ');
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(FrameError::Header {
                name: "(unnamed)",
                why: "bad name",
            });
        }
        // RFC 4975 §7.1: header names are case-insensitive.
        match name.to_ascii_lowercase().as_str() {
            "to-path" => self.to_path = MsrpUri::parse_path(value)?,
            "from-path" => self.from_path = MsrpUri::parse_path(value)?,
            "message-id" => {
                if !is_ident(value) {
                    return Err(FrameError::Header {
                        name: "Message-ID",
                        why: "not 4 to 32 letters, digits or .-+%=",
                    });
                }
                self.message_id = Some(value.to_owned());
            }
            "byte-range" => self.byte_range = Some(ByteRange::parse(value)?),
            "success-report" => {
                self.success_report = Some(ReportMode::parse("Success-Report", value)?)
            }
            "failure-report" => {
                self.failure_report = Some(ReportMode::parse("Failure-Report", value)?)
            }
            "status" => self.status = Some(Status::parse(value)?),
            "content-type" => self.content_type = Some(value.to_owned()),
            _ => self.other.push((name.to_owned(), value.to_owned())),
        }
        Ok(())
    }
}

/// RFC 4975's `ident`: a transaction or message id, 4 to 32 characters,
/// the first a letter or digit.
pub fn is_ident(text: &str) -> bool {
    let b = text.as_bytes();
    (4..=32).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b".-+%=".contains(c))
}

/// The end-line closing a frame: after the body's CRLF when it has one.
pub fn end_line(tid: &str, flag: Flag, after_body: bool) -> Vec<u8> {
    let crlf = if after_body { "\r\n" } else { "" };
    format!("{crlf}{END_DASHES}{tid}{}\r\n", flag.as_char()).into_bytes()
}

/// Random identifiers: transaction ids, message ids, session ids. 20
/// characters of [0-9a-z] (~103 bits), so a body never contains an
/// end-line by chance (the sender checks anyway).
#[derive(Default)]
pub struct Ids {
    seed: std::collections::hash_map::RandomState,
    counter: u64,
}

impl Ids {
    /// Not an `Iterator`: ids never run out, and `for` over them would
    /// never end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> String {
        let mut id = String::with_capacity(20);
        for half in 0..2 {
            self.counter += 1;
            let mut h = self.seed.build_hasher();
            h.write_u64(self.counter);
            h.write_u8(half);
            let mut n = h.finish();
            for _ in 0..10 {
                id.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
                n /= 36;
            }
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        let r = ByteRange::parse("1-25/25").unwrap();
        assert_eq!((r.start, r.end, r.total), (1, Some(25), Some(25)));
        let r = ByteRange::parse("4097-*/*").unwrap();
        assert_eq!((r.start, r.end, r.total), (4097, None, None));
        assert_eq!(r.to_string(), "4097-*/*");
        for bad in [
            "0-1/1",
            "5-2/9",
            "1-10/5",
            "1-x/5",
            "-/",
            "1-2",
            "",
            "1-99999999999999999999/*",
        ] {
            assert!(ByteRange::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idents_follow_rfc_4975() {
        assert!(is_ident("a786hjs2"));
        assert!(is_ident("87652491"));
        assert!(!is_ident("abc"));
        assert!(!is_ident(".abcd"));
        assert!(!is_ident("abcd efg"));
        assert!(!is_ident(&"a".repeat(33)));
        let mut ids = Ids::default();
        let (a, b) = (ids.next(), ids.next());
        assert!(is_ident(&a) && a.len() == 20);
        assert_ne!(a, b);
    }

    #[test]
    fn statuses() {
        let s = Status::parse("000 200 OK").unwrap();
        assert_eq!(
            (s.namespace, s.code, s.comment.as_deref()),
            (0, 200, Some("OK"))
        );
        assert!(Status::parse("0 200").is_err());
        assert!(Status::parse("000 2000").is_err());
    }
}
