//! The UDP door: every datagram is screened before rsipstack sees it (and
//! the screen every TCP message passes too: `tcp.rs`).
//!
//! rsipstack drops a datagram its parser refuses without telling anyone,
//! and its `Method` has no "other", so a request with a method it does not
//! know is refused by the parser too. RFC 3261 wants an answer in both
//! cases: 400 for a malformed request whose reason phrase names the problem
//! (§21.4.1), 501 for a method the UAS does not recognise (§21.5.2), 505
//! for another SIP version (§21.5.6); never an answer to an ACK or to a
//! response (§17.1.1.3 and §18.1.2). rsipstack takes its UDP socket as a
//! trait object, so the plugin hands it a [`ScreenedUdp`] that answers or
//! drops (and counts) such datagrams itself and passes on only what the
//! stack can use.
//!
//! An answer is built from the request's own Via, From, To, Call-ID and
//! CSeq lines, copied as they came, so the sender can match it; a request
//! lacking one of them cannot be matched and is dropped. It goes back to
//! the address the datagram came from (as with `rport`, RFC 3581; no
//! `received` is added), and an answer more than a few bytes larger than
//! the request is not sent, so the screen cannot amplify a spoofed
//! sender's traffic.

use super::lenient::has_tag;
use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Method, SipMessage, Version};

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed enough for rsipstack (or a keep-alive): pass it on.
    Pass,
    /// Send these bytes back to the sender and drop the datagram.
    Answer {
        code: u16,
        reason: &'static str,
        bytes: Vec<u8>,
    },
    /// Drop it; the reason is for the debug log.
    Drop(&'static str),
}

/// Screens one datagram. Never panics, whatever the bytes.
pub fn screen(datagram: &[u8]) -> Verdict {
    match screen_message(datagram) {
        Ok(_) => Verdict::Pass,
        Err(verdict) => verdict,
    }
}

/// Like [`screen`], keeping what passes as the message it was parsed into
/// (`None` for a keep-alive): a stream reader hands that to rsipstack
/// instead of parsing the bytes once more. The error is never
/// [`Verdict::Pass`].
pub fn screen_message(bytes: &[u8]) -> Result<Option<SipMessage>, Verdict> {
    let rewritten = super::lenient::rewrite(bytes, None);
    let bytes = rewritten.as_deref().unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None); // keep-alives (RFC 5626 §4.4.1) are rsipstack's
    }
    match SipMessage::try_from(bytes) {
        Ok(response @ SipMessage::Response(_)) => Ok(Some(response)),
        Ok(SipMessage::Request(request)) if request.version != Version::V2 => {
            Err(answer(bytes, 505, "Version Not Supported"))
        }
        Ok(SipMessage::Request(request)) => match header_problem(&request) {
            None => match raw_problem(bytes) {
                None => Ok(Some(SipMessage::Request(request))),
                Some(reason) => Err(answer(bytes, 400, reason)),
            },
            Some(Problem::Bad(reason) | Problem::Missing(reason)) => {
                Err(answer(bytes, 400, reason))
            }
        },
        Err(_) => Err(refused_by_the_parser(bytes)),
    }
}

/// The verdict on bytes rsip's parser refused.
fn refused_by_the_parser(datagram: &[u8]) -> Verdict {
    let Some(line) = RequestLine::of(datagram) else {
        return Verdict::Drop(NOT_SIP);
    };
    // The parser's own message is not sent: it may quote the peer.
    if line.version != "SIP/2.0" {
        answer(datagram, 505, "Version Not Supported")
    } else if line.method.parse::<Method>().is_ok() {
        answer(datagram, 400, "Bad Request")
    } else {
        answer(datagram, 501, "Not Implemented")
    }
}

/// What is wrong with a request rsip could parse.
enum Problem {
    /// A mandatory header is absent (RFC 3261 §8.1.1). RFC 4475 §3.3.1
    /// asks for a 400 all the same; it can be sent when the request has
    /// the Via and CSeq a client matches answers by (§17.1.3), and copies
    /// what else there is.
    Missing(&'static str),
    /// A header is there but broken: the reason phrase of the 400.
    Bad(&'static str),
}

/// The mandatory headers rsipstack's transaction layer reads, the first
/// one absent or broken.
fn header_problem(request: &rsipstack::sip::Request) -> Option<Problem> {
    match request.via_header().map(|via| via.typed()) {
        Err(_) => return Some(Problem::Missing("Missing Via header field")),
        Ok(Err(_)) => return Some(Problem::Bad("Bad Via header field")),
        Ok(Ok(_)) => {}
    }
    match request.from_header().map(|from| from.typed()) {
        Err(_) => return Some(Problem::Missing("Missing From header field")),
        Ok(Err(_)) => return Some(Problem::Bad("Bad From header field")),
        Ok(Ok(_)) => {}
    }
    match request.to_header().map(|to| to.typed()) {
        Err(_) => return Some(Problem::Missing("Missing To header field")),
        Ok(Err(_)) => return Some(Problem::Bad("Bad To header field")),
        Ok(Ok(_)) => {}
    }
    if request.call_id_header().is_err() {
        return Some(Problem::Missing("Missing Call-ID header field"));
    }
    let Ok(cseq) = request.cseq_header() else {
        return Some(Problem::Missing("Missing CSeq header field"));
    };
    match cseq.typed() {
        Err(_) => Some(Problem::Bad("Bad CSeq header field")),
        Ok(cseq) if cseq.method != request.method => {
            Some(Problem::Bad("CSeq method does not match the request"))
        }
        Ok(_) => None,
    }
}

/// What only the raw bytes show of a request the parser took: a header
/// that may appear once given twice (RFC 3261 §7.3.1: answers would echo
/// two Call-IDs or two tagged To headers), or a Content-Length the message
/// does not bear out (§18.3: larger than the body; §20.14: a number).
fn raw_problem(bytes: &[u8]) -> Option<&'static str> {
    const SINGLE: [(&str, &str, &str); 7] = [
        ("from", "f", "Duplicate From header field"),
        ("to", "t", "Duplicate To header field"),
        ("call-id", "i", "Duplicate Call-ID header field"),
        ("cseq", "cseq", "Duplicate CSeq header field"),
        (
            "content-length",
            "l",
            "Duplicate Content-Length header field",
        ),
        ("content-type", "c", "Duplicate Content-Type header field"),
        (
            "max-forwards",
            "max-forwards",
            "Duplicate Max-Forwards header field",
        ),
    ];
    let fields = header_fields(bytes)?;
    for (long, short, reason) in SINGLE {
        let count = fields
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(long) || name.eq_ignore_ascii_case(short))
            .count();
        if count > 1 {
            return Some(reason);
        }
    }
    for (name, value) in &fields {
        let reason = match name.to_ascii_lowercase().as_str() {
            "via" | "v" => "Bad Via header field",
            "contact" | "m" => "Bad Contact header field",
            _ => continue,
        };
        if has_empty_element(value) {
            return Some(reason);
        }
    }
    let length = fields.iter().find(|(name, _)| {
        name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")
    });
    if let Some((_, value)) = length {
        let Ok(declared) = value.trim().parse::<usize>() else {
            return Some("Bad Content-Length header field");
        };
        let body = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |end| bytes.len() - end - 4);
        if declared > body {
            return Some("Content-Length larger than the body");
        }
    }
    None
}

/// Whether a Via or Contact value has a parameter or a list element with
/// nothing in it (`;;`, `;,`, a trailing `,`: RFC 4475 §3.1.2.1), outside
/// quoted strings and `<...>`. rsip reads past them; the grammar has no
/// empty `generic-param` or list element.
fn has_empty_element(value: &str) -> bool {
    // The previous significant character was a separator (or none yet).
    let mut after_separator = true;
    for (c, outside) in super::lenient::outside_quotes_and_brackets(value) {
        match c {
            _ if !outside => after_separator = false,
            ' ' | '\t' => {}
            ';' | ',' if after_separator => return true,
            ';' | ',' => after_separator = true,
            _ => after_separator = false,
        }
    }
    after_separator && !value.trim().is_empty()
}

/// The first line of something that looks like a request.
struct RequestLine<'a> {
    method: &'a str,
    version: &'a str,
}

impl<'a> RequestLine<'a> {
    /// The method is the first word and the version the last; whatever
    /// lies between is the Request-URI, even with spaces in it (RFC 4475
    /// §3.1.2.8): such a request is answered 400, not taken for junk.
    fn of(datagram: &'a [u8]) -> Option<Self> {
        let end = datagram.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&datagram[..end]).ok()?;
        let line = line.trim_end_matches('\r');
        let (method, rest) = line.split_once(' ')?;
        let (uri, version) = rest.trim().rsplit_once(' ')?;
        let is_token = !method.is_empty() && method.bytes().all(is_token_char);
        (is_token && !uri.trim().is_empty() && version.starts_with("SIP/"))
            .then_some(Self { method, version })
    }
}

/// RFC 3261 §25.1 `token`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// How many bytes an answer may exceed its request by (a longer reason
/// phrase than the request line, a To tag).
const ANSWER_SLACK: usize = 64;

const UNANSWERABLE: &str = "a bad request without the Via and CSeq an answer must carry";

/// Why bytes that do not begin with a SIP start line are dropped.
pub(crate) const NOT_SIP: &str = "neither a SIP request nor a response";

/// Builds the answer, or drops the request when no answer may or can be
/// sent. `datagram` needs no more than the request's header block.
pub(crate) fn answer(datagram: &[u8], code: u16, reason: &'static str) -> Verdict {
    let Some(line) = RequestLine::of(datagram) else {
        return Verdict::Drop("not a request");
    };
    if line.method.eq_ignore_ascii_case("ACK") {
        return Verdict::Drop("a bad ACK gets no answer");
    }
    let Some(copied) = Copied::of(datagram) else {
        return Verdict::Drop(UNANSWERABLE);
    };
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for via in &copied.vias {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    if let Some(from) = &copied.from {
        out.push_str(&format!("From: {from}\r\n"));
    }
    if let Some(to) = &copied.to {
        // A UAS answering outside a dialog adds a To tag (RFC 3261 §8.2.6.2).
        let tag = if has_tag(to) {
            String::new()
        } else {
            format!(";tag={:016x}", rand::random::<u64>())
        };
        out.push_str(&format!("To: {to}{tag}\r\n"));
    }
    if let Some(call_id) = &copied.call_id {
        out.push_str(&format!("Call-ID: {call_id}\r\n"));
    }
    out.push_str(&format!("CSeq: {}\r\n", copied.cseq));
    out.push_str("Content-Length: 0\r\n\r\n");
    // Compact names written out in full could make the answer much the
    // larger: a spoofed sender's victim never gets more than the request
    // plus the few bytes of a status line and a To tag.
    if out.len() > datagram.len() + ANSWER_SLACK {
        return Verdict::Drop("its answer would be larger than the request");
    }
    Verdict::Answer {
        code,
        reason,
        bytes: out.into_bytes(),
    }
}

/// The header lines an answer copies, unfolded (RFC 3261 §7.3.1): the
/// Via lines and CSeq always (a client matches its answer by them,
/// §17.1.3), From, To and Call-ID when the request has them (RFC 4475
/// §3.3.1: a request without them still deserves its 400).
#[derive(Default)]
struct Copied<'a> {
    vias: Vec<std::borrow::Cow<'a, str>>,
    from: Option<std::borrow::Cow<'a, str>>,
    to: Option<std::borrow::Cow<'a, str>>,
    call_id: Option<std::borrow::Cow<'a, str>>,
    cseq: std::borrow::Cow<'a, str>,
}

impl<'a> Copied<'a> {
    fn of(datagram: &'a [u8]) -> Option<Self> {
        let mut copied = Copied::default();
        for (name, value) in header_fields(datagram)? {
            // A line break in a value would let the peer's bytes shape our
            // answer beyond the one line. Other control characters may be
            // in a quoted string (RFC 4475 §3.1.1.2's To has BEL, NUL and
            // DEL as quoted-pairs) and are copied as they came.
            if value.contains(['\r', '\n']) {
                return None;
            }
            let value = (!value.is_empty()).then_some(value);
            match name.to_ascii_lowercase().as_str() {
                "via" | "v" => copied.vias.extend(value),
                "from" | "f" => copied.from = value,
                "to" | "t" => copied.to = value,
                "call-id" | "i" => copied.call_id = value,
                "cseq" => copied.cseq = value.unwrap_or_default(),
                _ => {}
            }
        }
        let complete = !copied.vias.is_empty() && !copied.cseq.is_empty();
        complete.then_some(copied)
    }
}

/// `(name, value)` of each header field up to the empty line, continuation
/// lines joined to their field; lines with no colon are skipped. `None` if
/// a line is not UTF-8: it might be a Via, and an answer must copy them all.
pub(crate) fn header_fields(datagram: &[u8]) -> Option<Vec<(&str, std::borrow::Cow<'_, str>)>> {
    let mut fields: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
    for raw in datagram.split(|&b| b == b'\n').skip(1) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            break;
        }
        let line = std::str::from_utf8(raw).ok()?;
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                let joined = format!("{} {}", value, line.trim());
                *value = joined.into();
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim(), value.trim().into()));
        }
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &str = "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n\
        From: <sip:bob@127.0.0.1>;tag=1\r\n\
        To: <sip:alice@127.0.0.1>\r\n\
        Call-ID: abc@127.0.0.1\r\n";

    fn request(first: &str, cseq: &str) -> Vec<u8> {
        format!("{first}\r\n{HEADERS}CSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            .into_bytes()
    }

    fn answer_of(datagram: &[u8]) -> (u16, &'static str, String) {
        match screen(datagram) {
            Verdict::Answer {
                code,
                reason,
                bytes,
            } => (code, reason, String::from_utf8(bytes).unwrap()),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn single_headers_given_twice_and_lying_lengths_get_400() {
        // RFC 4475 §3.1.2.19 (two To, two Call-ID...) and §3.1.2.{5,6,7}
        // (Content-Length larger than the body, negative, given twice).
        let base = "OPTIONS sip:alice@127.0.0.1 SIP/2.0";
        let twice_to = format!(
            "{base}\r\n{HEADERS}To: <sip:carol@127.0.0.1>;tag=2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let (code, reason, answer) = answer_of(twice_to.as_bytes());
        assert_eq!((code, reason), (400, "Duplicate To header field"));
        assert_eq!(answer.matches("\r\nTo:").count(), 1, "{answer}");
        let compact = format!(
            "{base}\r\n{HEADERS}i: other@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            answer_of(compact.as_bytes()).1,
            "Duplicate Call-ID header field"
        );
        for (length, reason) in [
            ("Content-Length: 999", "Content-Length larger than the body"),
            ("Content-Length: -999", "Bad Content-Length header field"),
            (
                "Content-Length: 4\r\nl: 4",
                "Duplicate Content-Length header field",
            ),
        ] {
            let lying = format!("{base}\r\n{HEADERS}CSeq: 1 OPTIONS\r\n{length}\r\n\r\nbody");
            let (code, got, _) = answer_of(lying.as_bytes());
            assert_eq!((code, got), (400, reason), "{length}");
        }
        let honest = format!("{base}\r\n{HEADERS}CSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody");
        assert_eq!(screen(honest.as_bytes()), Verdict::Pass);
    }

    #[test]
    fn good_requests_responses_and_keepalives_pass() {
        assert_eq!(
            screen(&request("OPTIONS sip:alice@127.0.0.1 SIP/2.0", "1 OPTIONS")),
            Verdict::Pass
        );
        let response =
            format!("SIP/2.0 200 OK\r\n{HEADERS}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(screen(response.as_bytes()), Verdict::Pass);
        // Compact header names are rsip's too (RFC 3261 §7.3.3).
        let compact = b"OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n\
            v: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n\
            f: <sip:bob@127.0.0.1>;tag=1\r\nt: <sip:alice@127.0.0.1>\r\n\
            i: abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n";
        assert_eq!(screen(compact), Verdict::Pass);
        assert_eq!(screen(b"\r\n\r\n"), Verdict::Pass);
        assert_eq!(screen(b"\r\n"), Verdict::Pass);
    }

    #[test]
    fn an_unknown_method_gets_501_that_the_sender_can_match() {
        let (code, _, text) = answer_of(&request("FOO sip:alice@127.0.0.1 SIP/2.0", "7 FOO"));
        assert_eq!(code, 501);
        assert!(
            text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{text}"
        );
        assert!(text.contains("Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n"));
        assert!(text.contains("Call-ID: abc@127.0.0.1\r\n"));
        assert!(text.contains("CSeq: 7 FOO\r\n"));
        assert!(text.contains("To: <sip:alice@127.0.0.1>;tag="), "{text}");
        // Our own answer is well-formed SIP.
        assert!(matches!(
            SipMessage::try_from(text.as_bytes()),
            Ok(SipMessage::Response(_))
        ));
    }

    #[test]
    fn a_bad_request_gets_400_naming_the_problem() {
        let (code, reason, _) =
            answer_of(&request("INVITE sip:alice@127.0.0.1 SIP/2.0", "x INVITE"));
        assert_eq!((code, reason), (400, "Bad CSeq header field"));
        let bad_from = request("MESSAGE sip:alice@127.0.0.1 SIP/2.0", "1 MESSAGE");
        let bad_from = String::from_utf8(bad_from)
            .unwrap()
            .replace("From: <sip:bob@127.0.0.1>", "From: <sip:>");
        let (_, reason, _) = answer_of(bad_from.as_bytes());
        assert_eq!(reason, "Bad From header field");
        let (_, reason, _) = answer_of(&request("INVITE sip:alice@127.0.0.1 SIP/2.0", "1 BYE"));
        assert_eq!(reason, "CSeq method does not match the request");
        let (code, _, _) = answer_of(&request("INVITE sip:alice@127.0.0.1 SIP/3.0", "1 INVITE"));
        assert_eq!(code, 505);
    }

    fn without(header: &[u8], datagram: Vec<u8>) -> Vec<u8> {
        datagram
            .split(|&b| b == b'\n')
            .filter(|line| !line.starts_with(header))
            .collect::<Vec<_>>()
            .join(&b'\n')
    }

    #[test]
    fn a_request_lacking_a_mandatory_header_gets_400_if_it_can_be_matched() {
        let options = || request("OPTIONS sip:alice@127.0.0.1 SIP/2.0", "1 OPTIONS");
        let unknown = || request("FOO sip:alice@127.0.0.1 SIP/2.0", "1 FOO");
        // Without Via or CSeq the sender could not match an answer.
        for header in [&b"Via"[..], b"CSeq"] {
            assert_eq!(
                screen(&without(header, options())),
                Verdict::Drop(UNANSWERABLE)
            );
            assert_eq!(
                screen(&without(header, unknown())),
                Verdict::Drop(UNANSWERABLE)
            );
        }
        // RFC 4475 §3.3.1: without Call-ID, From or To, a 400 all the same.
        for (header, reason) in [
            (&b"Call-ID"[..], "Missing Call-ID header field"),
            (b"To", "Missing To header field"),
            (b"From", "Missing From header field"),
        ] {
            let (code, got, text) = answer_of(&without(header, options()));
            assert_eq!((code, got), (400, reason));
            let name = String::from_utf8_lossy(header);
            assert!(!text.contains(&format!("\r\n{name}:")), "{text}");
            assert_eq!(answer_of(&without(header, unknown())).0, 501);
        }
    }

    #[test]
    fn empty_via_or_contact_parameters_get_400() {
        // RFC 4475 §3.1.2.1.
        let bad = String::from_utf8(request("INVITE sip:alice@127.0.0.1 SIP/2.0", "1 INVITE"))
            .unwrap()
            .replace("branch=z9hG4bK1", "branch=z9hG4bK1;;,;,,");
        assert_eq!(answer_of(bad.as_bytes()).1, "Bad Via header field");
        assert!(has_empty_element("<sip:a@b>;;;;"));
        assert!(!has_empty_element("\"a;;b\" <sip:a@b;;x>;expires=3"));
        assert!(!has_empty_element(
            "SIP/2.0/UDP a ; branch = b , SIP/2.0/TCP c"
        ));
    }

    #[test]
    fn a_request_uri_with_spaces_in_it_gets_400() {
        // RFC 4475 §3.1.2.8: rsip refuses the line; it is still a request.
        let (code, _, _) = answer_of(&request(
            "INVITE sip:user@example.com; lr SIP/2.0",
            "1 INVITE",
        ));
        assert_eq!(code, 400);
    }

    #[test]
    fn quoted_control_characters_do_not_stop_the_answer() {
        // RFC 4475 §3.1.1.2's To: BEL, NUL and DEL as quoted-pairs.
        let odd = String::from_utf8(request("FOO sip:alice@127.0.0.1 SIP/2.0", "1 FOO"))
            .unwrap()
            .replace("To: <sip:", "To: \"BEL:\\\x07 NUL:\\\x00\" <sip:");
        let (code, _, text) = answer_of(odd.as_bytes());
        assert_eq!(code, 501);
        assert!(text.contains("NUL:\\\x00"), "{text}");
    }

    #[test]
    fn a_header_line_that_is_not_utf8_drops_the_request() {
        // It could have been a Via the answer must carry.
        let mut datagram = b"FOO sip:a@b SIP/2.0\r\nVia: \xff\r\n".to_vec();
        datagram.extend_from_slice(&request("", "1 FOO")[2..]);
        assert_eq!(screen(&datagram), Verdict::Drop(UNANSWERABLE));
    }

    #[test]
    fn compact_names_are_copied_in_full_but_never_into_a_larger_answer() {
        let compact = b"FOO sip:alice@127.0.0.1 SIP/2.0\r\n\
            v: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n\
            f: <sip:bob@127.0.0.1>;tag=1\r\nt: <sip:alice@127.0.0.1>;tag=2\r\n\
            i: abc\r\nCSeq: 1 FOO\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n";
        let (code, _, text) = answer_of(compact);
        assert_eq!(code, 501);
        assert!(text.contains("\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n"));
        assert!(text.contains("\r\nCall-ID: abc\r\n"), "{text}");
        assert!(text.len() <= compact.len() + ANSWER_SLACK);
        // Many tiny compact Vias would double in size: no answer at all.
        let mut spoofed = b"FOO sip:a@b SIP/2.0\r\nf:a\r\nt:b\r\ni:c\r\nCSeq:1 FOO\r\n".to_vec();
        spoofed.extend(std::iter::repeat_n(&b"v:a\n"[..], 500).flatten());
        spoofed.extend_from_slice(b"\r\n");
        assert!(matches!(screen(&spoofed), Verdict::Drop(_)), "amplified");
    }

    #[test]
    fn a_to_tag_is_found_where_it_belongs() {
        assert!(has_tag("<sip:a@b>;tag=1"));
        assert!(has_tag("<sip:a@b> ; TAG = 1"));
        assert!(has_tag("sip:a@b;tag=1"));
        assert!(
            !has_tag("<sip:a@b;tag=1>"),
            "a URI parameter is not the header's"
        );
        assert!(!has_tag("<sip:a@b>;tagx=1"));
        assert!(!has_tag("sip:a@b"));
    }

    #[test]
    fn a_folded_header_is_copied_on_one_line() {
        let folded = request("FOO sip:alice@127.0.0.1 SIP/2.0", "7 FOO");
        let folded = String::from_utf8(folded).unwrap().replace(
            "From: <sip:bob@127.0.0.1>;tag=1",
            "From: <sip:bob@127.0.0.1>\r\n ;tag=1",
        );
        // Joined, and the space the grammar allows before `;` dropped
        // (`lenient.rs`): the same From, on one line.
        let (_, _, text) = answer_of(folded.as_bytes());
        assert!(
            text.contains("From: <sip:bob@127.0.0.1>;tag=1\r\n"),
            "{text}"
        );
    }

    #[test]
    fn acks_responses_and_junk_are_dropped_not_answered() {
        assert!(matches!(
            screen(&request("ACK sip:alice@127.0.0.1 SIP/2.0", "x ACK")),
            Verdict::Drop(_)
        ));
        assert!(matches!(screen(b"SIP/2.0 OK\r\n\r\n"), Verdict::Drop(_)));
        for junk in [
            &b"\x00\x01\x02garbage"[..],
            b"INVITE sip:x SIP/2.0\r\n\r\n",
            b"INVITE\r\n",
            b"\xff\xfe\xfd",
            b"FOO sip:x SIP/2.0\r\nVia: a\r\nFrom: b\r\nTo: c\r\nCall-ID: d\rX\r\nCSeq: 1 FOO\r\n\r\n",
        ] {
            assert!(matches!(screen(junk), Verdict::Drop(_)), "{junk:?}");
        }
    }
}
