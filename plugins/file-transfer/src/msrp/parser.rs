//! The streaming MSRP parser: bytes in as they arrive, items out — a
//! frame's head, then its body in pieces as they come, then its end-line.
//! A body is never gathered: what cannot be the start of the end-line is
//! handed out at once, so memory stays at one read buffer whatever the
//! chunk size a peer chooses. Only the head is bounded and kept whole.

use bytes::{Bytes, BytesMut};

use super::error::FrameError;
use super::frame::{Flag, Head, Kind, Method, END_DASHES};

/// The most header bytes taken for one frame. Relays add a few URIs and
/// digest headers; 16 KiB is far beyond any real frame.
pub const MAX_HEAD: usize = 16 * 1024;

/// One thing read off the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A frame begins (for a frame without body, `End` follows at once).
    Head(Box<Head>),
    /// Body bytes of the current frame, in order.
    Body(Bytes),
    /// The current frame ends.
    End(Flag),
}

#[derive(Debug)]
enum State {
    /// Waiting for a start line and headers.
    Head,
    /// In a body: its end is `\r\n-------<tid>` then a flag and CRLF.
    Body { end: Vec<u8> },
    /// A bodiless frame's end-line was read with its head.
    Ended(Flag),
}

#[derive(Debug)]
pub struct Parser {
    state: State,
}

impl Default for Parser {
    fn default() -> Self {
        Parser { state: State::Head }
    }
}

impl Parser {
    /// The next item from the front of `buf` (consumed), or `None` when
    /// more bytes are needed. After an error the connection is useless.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, FrameError> {
        match &self.state {
            State::Ended(flag) => {
                let flag = *flag;
                self.state = State::Head;
                Ok(Some(Item::End(flag)))
            }
            State::Head => self.head(buf),
            State::Body { end } => {
                let (item, done) = body(end, buf);
                if done {
                    self.state = State::Head;
                }
                Ok(item)
            }
        }
    }

    fn head(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, FrameError> {
        let mut lines = Lines {
            buf: &buf[..],
            at: 0,
        };
        let Some(start) = lines.next() else {
            return too_long(buf.len()).map(|()| None);
        };
        let start = std::str::from_utf8(start).map_err(|_| FrameError::StartLine("not text"))?;
        let mut head = start_line(start)?;
        let end_prefix = format!("{END_DASHES}{}", head.tid);
        loop {
            let Some(line) = lines.next() else {
                return too_long(buf.len()).map(|()| None);
            };
            if line.is_empty() {
                // A blank line: the body follows.
                if head.content_type.is_none() {
                    return Err(FrameError::Header {
                        name: "Content-Type",
                        why: "missing before a body",
                    });
                }
                let end = format!("\r\n{end_prefix}").into_bytes();
                let _ = buf.split_to(lines.at);
                self.state = State::Body { end };
                return Ok(Some(Item::Head(Box::new(head))));
            }
            if let Some(rest) = line.strip_prefix(end_prefix.as_bytes()) {
                let flag = match rest {
                    [b] => Flag::from_byte(*b),
                    _ => None,
                }
                .ok_or(FrameError::StartLine("bad end-line"))?;
                let _ = buf.split_to(lines.at);
                self.state = State::Ended(flag);
                return Ok(Some(Item::Head(Box::new(head))));
            }
            if line.starts_with(END_DASHES.as_bytes()) {
                return Err(FrameError::StartLine("end-line of another transaction"));
            }
            let line = std::str::from_utf8(line).map_err(|_| FrameError::Header {
                name: "(unnamed)",
                why: "not text",
            })?;
            head.add_header(line)?;
        }
    }
}

fn too_long(len: usize) -> Result<(), FrameError> {
    if len > MAX_HEAD {
        Err(FrameError::HeadTooLong { limit: MAX_HEAD })
    } else {
        Ok(())
    }
}

/// `MSRP <tid> <METHOD>` or `MSRP <tid> <code>[ <comment>]`.
fn start_line(line: &str) -> Result<Head, FrameError> {
    let mut parts = line.splitn(4, ' ');
    if parts.next() != Some("MSRP") {
        return Err(FrameError::StartLine("no MSRP at the start"));
    }
    let tid = parts.next().unwrap_or("");
    if !super::frame::is_ident(tid) {
        return Err(FrameError::StartLine("bad transaction id"));
    }
    let what = parts.next().ok_or(FrameError::StartLine("no method"))?;
    let rest = parts.next();
    let mut head = Head::request(tid, Method::Send, Vec::new(), Vec::new());
    if what.len() == 3 && what.bytes().all(|b| b.is_ascii_digit()) {
        let code = what.parse().unwrap_or(0);
        if !(200..700).contains(&code) {
            return Err(FrameError::StartLine("status code out of range"));
        }
        head.kind = Kind::Response {
            code,
            comment: rest.map(str::to_owned),
        };
    } else if rest.is_none() && !what.is_empty() && what.bytes().all(|b| b.is_ascii_uppercase()) {
        head.kind = Kind::Request(Method::parse_name(what));
    } else {
        return Err(FrameError::StartLine("bad method"));
    }
    Ok(head)
}

impl Method {
    fn parse_name(text: &str) -> Method {
        match text {
            "SEND" => Method::Send,
            "REPORT" => Method::Report,
            "AUTH" => Method::Auth,
            other => Method::Other(other.to_owned()),
        }
    }
}

/// Body bytes up to the end-line; `true` when the frame ended.
fn body(end: &[u8], buf: &mut BytesMut) -> (Option<Item>, bool) {
    // The end-line is `end`, a flag byte and CRLF.
    let full = end.len() + 3;
    let mut from = 0;
    while let Some(i) = find(&buf[from..], end).map(|i| i + from) {
        if i > 0 {
            // Hand out the body before it first; the end-line next call.
            return (Some(Item::Body(buf.split_to(i).freeze())), false);
        }
        if buf.len() < full {
            return (None, false);
        }
        let flag = Flag::from_byte(buf[end.len()]);
        if let (Some(flag), b"\r\n") = (flag, &buf[end.len() + 1..full]) {
            let _ = buf.split_to(full);
            return (Some(Item::End(flag)), true);
        }
        // Looked like an end-line but is not: body bytes.
        from = i + 1;
    }
    // Nothing found: all but what could begin an end-line is body.
    let keep = (full - 1).min(buf.len());
    let give = buf.len() - keep;
    let give = give.max(from.min(buf.len()));
    if give == 0 {
        return (None, false);
    }
    (Some(Item::Body(buf.split_to(give).freeze())), false)
}

/// Where `needle` first occurs in `haystack`, or `None`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// CRLF-ended lines of a buffer, without their CRLF.
struct Lines<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = &self.buf[self.at..];
        let i = find(rest, b"\r\n")?;
        self.at += i + 2;
        Some(&rest[..i])
    }
}
