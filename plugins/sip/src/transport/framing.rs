//! Framing SIP messages in a TCP or TLS stream by their Content-Length
//! (RFC 3261 §7.5, §18.3), before anything parses them. Pure: bytes in,
//! [`Frame`]s out; the TCP reader (`tcp.rs`) and the screened TLS stream
//! (`tls/screened.rs`) both frame with it.

use super::screen;

/// The largest message a stream may carry, header block and body:
/// rsipstack's own limit for its stream reader.
pub const MAX_MESSAGE: usize = 65_535;

/// What the bytes at the head of a stream hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough yet to say.
    Incomplete,
    /// A CRLF CRLF keep-alive (RFC 5626 §4.4.1), 4 bytes: answered CRLF.
    Ping,
    /// This many bytes of CRLF before a start line (RFC 3261 §7.5), or a
    /// keep-alive's pong: skipped.
    Skip(usize),
    /// One whole message of this many bytes, header block and body.
    Message(usize),
    /// No message can be framed: the connection must close.
    Lost(Lost),
}

/// Why the framing is lost. A header block's length comes along when there
/// is one: an answer copies from it.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Lost {
    /// No end of the header block within [`MAX_MESSAGE`] bytes.
    Endless,
    /// A header line is not UTF-8, so Content-Length cannot be told.
    NotText,
    /// No Content-Length, which every message on a stream carries (RFC
    /// 3261 §18.3, §20.14).
    NoLength(usize),
    /// Content-Length is not one decimal number, or is there twice.
    BadLength(usize),
    /// The message would be over [`MAX_MESSAGE`] bytes.
    TooLarge(usize),
}

impl Lost {
    pub fn why(self) -> &'static str {
        match self {
            Lost::Endless => "no end of the header block within 65,535 bytes",
            Lost::NotText => "a header line that is not UTF-8",
            Lost::NoLength(_) => "no Content-Length on a stream",
            Lost::BadLength(_) => "a bad Content-Length",
            Lost::TooLarge(_) => "a message over 65,535 bytes",
        }
    }
}

/// Frames SIP messages in a stream by their Content-Length (RFC 3261 §7.5,
/// §18.3). Each call looks at the head of the bytes read so far; the
/// caller takes away what a [`Frame`] names before the next call. The end
/// of a header block is searched for only in the bytes not searched yet,
/// and the Content-Length read once per message, so a peer sending a byte
/// at a time costs no more than one sending all at once. Never panics,
/// whatever the bytes.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes searched for the end of the header block so far.
    searched: usize,
    /// The whole message's length, once its header block has been read.
    length: Option<usize>,
}

impl Framer {
    pub fn next(&mut self, buf: &[u8]) -> Frame {
        if let Some(length) = self.length {
            if buf.len() < length {
                return Frame::Incomplete;
            }
            *self = Framer::default();
            return Frame::Message(length);
        }
        if buf.starts_with(b"\r\n\r\n") {
            self.searched = 0;
            return Frame::Ping;
        }
        if b"\r\n\r\n".starts_with(buf) {
            return Frame::Incomplete; // perhaps the start of a ping
        }
        if buf.starts_with(b"\r\n") {
            self.searched = 0;
            return Frame::Skip(2);
        }
        let from = self.searched.saturating_sub(3).min(buf.len());
        let Some(end) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") else {
            self.searched = buf.len();
            return if buf.len() > MAX_MESSAGE {
                Frame::Lost(Lost::Endless)
            } else {
                Frame::Incomplete
            };
        };
        let head = from + end + 4;
        let length = match content_length(&buf[..head]) {
            Ok(body) => head.saturating_add(body),
            Err(lost) => return Frame::Lost(lost(head)),
        };
        if length > MAX_MESSAGE {
            return Frame::Lost(Lost::TooLarge(head));
        }
        self.length = Some(length);
        self.next(buf)
    }
}

/// The Content-Length of a header block (full or compact name, RFC 3261
/// §7.3.3), saturated when too large to count; else what is wrong.
fn content_length(head: &[u8]) -> Result<usize, fn(usize) -> Lost> {
    let Some(fields) = screen::header_fields(head) else {
        return Err(|_| Lost::NotText);
    };
    let mut lengths = fields
        .iter()
        .filter(|(name, _)| {
            name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")
        })
        .map(|(_, value)| value);
    let value = match (lengths.next(), lengths.next()) {
        (None, _) => return Err(Lost::NoLength),
        (Some(_), Some(_)) => return Err(Lost::BadLength),
        (Some(value), None) => value,
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Lost::BadLength);
    }
    Ok(value.parse().unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK1\r\n\
        From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n\
        Call-ID: abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n";

    fn with_length(length: &str, body: &str) -> Vec<u8> {
        format!("{OPTIONS}{length}\r\n\r\n{body}").into_bytes()
    }

    /// Every frame of `stream`, fed `chunk` bytes at a time, as the reader
    /// does; the bytes left over at the end.
    fn frames(stream: &[u8], chunk: usize) -> (Vec<Frame>, Vec<u8>) {
        let mut framer = Framer::default();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        for piece in stream.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let frame = framer.next(&buf);
                match &frame {
                    Frame::Incomplete => break,
                    Frame::Ping => drop(buf.drain(..4)),
                    Frame::Skip(n) | Frame::Message(n) => drop(buf.drain(..*n)),
                    Frame::Lost(_) => {
                        out.push(frame);
                        return (out, buf);
                    }
                }
                out.push(frame);
            }
        }
        (out, buf)
    }

    #[test]
    fn messages_are_framed_by_content_length_however_they_arrive() {
        let first = with_length("Content-Length: 5", "hello");
        let second = with_length("l: 0", "");
        let mut stream = b"\r\n\r\n\r\n".to_vec(); // a ping, then a stray CRLF
        stream.extend_from_slice(&first);
        stream.extend_from_slice(&second);
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            let (frames, left) = frames(&stream, chunk);
            assert_eq!(
                frames,
                [
                    Frame::Ping,
                    Frame::Skip(2),
                    Frame::Message(first.len()),
                    Frame::Message(second.len())
                ],
                "chunks of {chunk}"
            );
            assert!(left.is_empty(), "chunks of {chunk}");
        }
    }

    #[test]
    fn a_message_waits_for_its_whole_body() {
        let message = with_length("Content-Length: 10", "0123456789");
        let mut framer = Framer::default();
        assert_eq!(
            framer.next(&message[..message.len() - 1]),
            Frame::Incomplete
        );
        assert_eq!(framer.next(&message), Frame::Message(message.len()));
        assert_eq!(framer.next(b""), Frame::Incomplete);
    }

    #[test]
    fn a_missing_or_bad_content_length_loses_the_framing() {
        let head = |m: &[u8]| m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let missing = format!("{OPTIONS}\r\n").into_bytes();
        assert_eq!(
            Framer::default().next(&missing),
            Frame::Lost(Lost::NoLength(missing.len()))
        );
        for bad in [
            "Content-Length: lots",
            "Content-Length: -1",
            "Content-Length: +5",
            "Content-Length: 1 2",
            "Content-Length:",
            "Content-Length: 0\r\nl: 0",
        ] {
            let message = with_length(bad, "");
            assert_eq!(
                Framer::default().next(&message),
                Frame::Lost(Lost::BadLength(head(&message))),
                "{bad}"
            );
        }
        let mut not_text = OPTIONS.as_bytes().to_vec();
        not_text.extend_from_slice(b"X-Junk: \xff\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            Framer::default().next(&not_text),
            Frame::Lost(Lost::NotText)
        );
    }

    #[test]
    fn too_large_is_lost_without_overflow() {
        let head = |m: &[u8]| m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for length in [
            "Content-Length: 65536",
            // rsipstack 0.7.14's own reader overflows on this one.
            "Content-Length: 18446744073709551615",
            "Content-Length: 99999999999999999999999999",
        ] {
            let message = with_length(length, "");
            assert_eq!(
                Framer::default().next(&message),
                Frame::Lost(Lost::TooLarge(head(&message))),
                "{length}"
            );
        }
        let endless = vec![b'A'; MAX_MESSAGE + 1];
        assert_eq!(Framer::default().next(&endless), Frame::Lost(Lost::Endless));
        assert_eq!(
            Framer::default().next(&endless[..MAX_MESSAGE]),
            Frame::Incomplete
        );
    }

    #[test]
    fn any_bytes_in_any_chunks_end_in_frames_never_a_panic() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let alphabet = b"\r\n:l Content-Length0123456789ABC";
        let good = with_length("Content-Length: 3", "abc");
        for _ in 0..2000 {
            let mut stream: Vec<u8> = (0..rng.random_range(0..400))
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let at = rng.random_range(0..=stream.len());
            stream.splice(at..at, good.iter().copied());
            let (frames, left) = frames(&stream, rng.random_range(1..50));
            let framed: usize = frames
                .iter()
                .map(|f| match f {
                    Frame::Ping => 4,
                    Frame::Skip(n) | Frame::Message(n) => *n,
                    _ => 0,
                })
                .sum();
            if !matches!(frames.last(), Some(Frame::Lost(_))) {
                assert_eq!(framed + left.len(), stream.len());
            }
        }
    }
}
