//! Requests within a call's dialog that carry something for the user:
//! MESSAGE, INFO and NOTIFY. Each is answered 200 and published with its
//! call, content type and body (byte-exact, `body.rs`); an INFO carrying
//! DTMF (`application/dtmf-relay`, `application/dtmf`) becomes a `sip.dtmf`
//! event as an RFC 4733 digit does. Nothing a peer sends during a call is
//! thrown away.

use std::net::SocketAddr;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::uri::Param;
use rsipstack::sip::{Header, Method, Request, StatusCode};
use tandem_sdk::events::sip::{Dtmf, Info, Message, Notify};
use tandem_sdk::Host;

use super::body::{self, Body};
use super::incoming::MAX_MESSAGE_BODY;
use super::uas::without_params;
use crate::guard::origin::Origin;

/// The call a request belongs to, as events name it.
pub struct CallOf {
    /// Tandem's call id; empty when the dialog has no call (any more).
    pub id: String,
    pub peer: String,
}

/// What one in-dialog request becomes.
#[derive(Debug, PartialEq)]
pub enum Received {
    Message(Message),
    Info(Info),
    Dtmf(Vec<Dtmf>),
    Notify(Notify),
    /// Refused with this status, published as nothing (a body over
    /// [`MAX_MESSAGE_BODY`]: the sender hears why).
    Refused(StatusCode),
}

impl Received {
    /// What `request` (a MESSAGE, INFO or NOTIFY within `call`'s dialog)
    /// becomes.
    pub fn of(request: &Request, call: CallOf) -> Received {
        if request.body.len() > MAX_MESSAGE_BODY {
            return Received::Refused(StatusCode::RequestEntityTooLarge);
        }
        let content_type = body::content_type(request);
        let Body { text, base64 } = Body::of(&request.body);
        match request.method {
            Method::Message => {
                let origin = via_origin(request);
                Received::Message(Message {
                    from: uri_of(request.from_header().ok().and_then(|f| f.uri().ok())),
                    to: uri_of(request.to_header().ok().and_then(|t| t.uri().ok())),
                    content_type: content_type.unwrap_or_else(|| "text/plain".into()),
                    body: text,
                    source: origin.as_ref().map(Origin::source).unwrap_or_default(),
                    transport: origin.map(|o| o.transport).unwrap_or_default(),
                    body_base64: base64,
                    call: Some(call.id),
                    display_name: request
                        .from_header()
                        .ok()
                        .and_then(|f| f.typed().ok())
                        .and_then(|f| f.display_name)
                        .filter(|d| !d.is_empty()),
                    // Whether the call itself came through the registrar
                    // is not tracked: say "not vouched" rather than guess.
                    vouched: false,
                })
            }
            Method::Info => {
                let content_type = content_type.unwrap_or_default();
                let digits = dtmf_of(&content_type, &text);
                if !digits.is_empty() {
                    return Received::Dtmf(
                        digits
                            .into_iter()
                            .map(|digit| Dtmf {
                                call: call.id.clone(),
                                digit: digit.to_string(),
                            })
                            .collect(),
                    );
                }
                Received::Info(Info {
                    call: call.id,
                    peer: call.peer,
                    content_type,
                    body: text,
                    body_base64: base64,
                })
            }
            _ => Received::Notify(Notify {
                call: call.id,
                peer: call.peer,
                event: request
                    .headers
                    .iter()
                    .find_map(|h| match h {
                        Header::Event(e) => Some(e.value().trim().to_owned()),
                        _ => None,
                    })
                    .unwrap_or_default(),
                content_type: content_type.unwrap_or_default(),
                body: text,
                body_base64: base64,
            }),
        }
    }

    /// The answer to the request.
    pub fn status(&self) -> StatusCode {
        match self {
            Received::Refused(status) => status.clone(),
            _ => StatusCode::OK,
        }
    }

    /// Publishes the events, if any.
    pub fn publish(&self, host: &Host) {
        match self {
            Received::Message(message) => {
                host.publish(message);
            }
            Received::Info(info) => {
                host.publish(info);
            }
            Received::Notify(notify) => {
                host.publish(notify);
            }
            Received::Dtmf(digits) => {
                for digit in digits {
                    host.publish(digit);
                }
            }
            Received::Refused(_) => {}
        }
    }

    /// For the log.
    pub fn describe(&self) -> String {
        match self {
            Received::Message(m) => format!("a MESSAGE ({})", m.content_type),
            Received::Info(i) => format!("an INFO ({})", i.content_type),
            Received::Notify(n) => format!("a NOTIFY (event {:?})", n.event),
            Received::Dtmf(d) => format!(
                "DTMF {:?} by INFO",
                d.iter().map(|d| d.digit.as_str()).collect::<String>()
            ),
            Received::Refused(status) => format!("a request refused with {status}"),
        }
    }
}

fn uri_of(uri: Option<rsipstack::sip::Uri>) -> String {
    uri.map(|u| without_params(&u)).unwrap_or_default()
}

/// The DTMF digits an INFO body carries, for the two content types that
/// carry them: `application/dtmf-relay` (`Signal=5`, one per body, as
/// Cisco and most PBXs send it) and `application/dtmf` (the bare digit).
/// Empty for any other type, or a body naming no digit.
fn dtmf_of(content_type: &str, body: &str) -> Vec<char> {
    let signal = if body::is_type(content_type, "application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim())
        })
    } else if body::is_type(content_type, "application/dtmf") {
        Some(body.trim())
    } else {
        None
    };
    signal.and_then(digit).into_iter().collect()
}

/// One DTMF signal as a digit (`0-9*#A-D`); the event codes 10 and 11 of
/// RFC 4733 are `*` and `#`.
fn digit(signal: &str) -> Option<char> {
    match signal {
        "10" => return Some('*'),
        "11" => return Some('#'),
        _ => {}
    }
    let mut chars = signal.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let c = c.to_ascii_uppercase();
    (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')).then_some(c)
}

/// Where an in-dialog request came from, as the top Via says after the
/// transport marked it (`received`, `rport`, RFC 3581).
pub fn via_origin(request: &Request) -> Option<Origin> {
    let via = request.via_header().ok()?.typed().ok()?;
    let received = via.params.iter().find_map(|p| match p {
        Param::Received(r) => r.parse().ok(),
        _ => None,
    });
    let rport = via.params.iter().find_map(|p| match p {
        Param::Rport(port) => *port,
        _ => None,
    });
    let ip = received.or_else(|| crate::uri::host_ip(&via.uri.host_with_port.host))?;
    let port = rport
        .or_else(|| via.uri.host_with_port.port.map(u16::from))
        .unwrap_or(5060);
    let transport = via.transport.to_string().to_ascii_lowercase();
    Some(Origin::new(SocketAddr::new(ip, port), &transport))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, extra: &str, body: &[u8]) -> Request {
        let mut bytes = format!(
            "{method} sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1;received=192.0.2.7;rport=5077\r\n\
             From: <sip:bob@127.0.0.1:5099>;tag=1\r\nTo: <sip:alice@127.0.0.1:5060>;tag=2\r\n\
             Call-ID: abc\r\nCSeq: 2 {method}\r\nMax-Forwards: 70\r\n{extra}\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        match rsipstack::sip::SipMessage::try_from(bytes.as_slice()).unwrap() {
            rsipstack::sip::SipMessage::Request(request) => request,
            other => panic!("{other:?}"),
        }
    }

    fn call() -> CallOf {
        CallOf {
            id: "c1".into(),
            peer: "sip:bob@127.0.0.1:5099".into(),
        }
    }

    #[test]
    fn a_message_in_a_call_keeps_its_call_type_and_bytes() {
        let binary = b"\x00\x01\xfe\xff";
        let got = Received::of(
            &request(
                "MESSAGE",
                "Content-Type: Application/Octet-Stream\r\n",
                binary,
            ),
            call(),
        );
        let Received::Message(message) = got else {
            panic!("{got:?}")
        };
        assert_eq!(message.call.as_deref(), Some("c1"));
        assert_eq!(message.content_type, "Application/Octet-Stream");
        assert_eq!(
            (message.body.as_str(), message.body_base64.as_deref()),
            ("", Some("AAH+/w=="))
        );
        assert_eq!(
            (message.source.as_str(), message.transport.as_str()),
            ("192.0.2.7:5077", "udp")
        );
        assert_eq!(message.from, "sip:bob@127.0.0.1:5099");
    }

    #[test]
    fn dtmf_info_becomes_digits_whatever_the_spelling() {
        for (content_type, body, digit) in [
            (
                "application/dtmf-relay",
                "Signal=5\r\nDuration=160\r\n",
                "5",
            ),
            ("Application/DTMF-Relay; x=y", "signal = #\r\n", "#"),
            (
                "application/dtmf-relay",
                "Signal=10\r\nDuration=100\r\n",
                "*",
            ),
            ("application/dtmf", "d\r\n", "D"),
        ] {
            let info = request(
                "INFO",
                &format!("Content-Type: {content_type}\r\n"),
                body.as_bytes(),
            );
            assert_eq!(
                Received::of(&info, call()),
                Received::Dtmf(vec![Dtmf {
                    call: "c1".into(),
                    digit: digit.into()
                }]),
                "{content_type} {body:?}"
            );
        }
    }

    #[test]
    fn other_info_and_notify_are_published_as_they_came() {
        let info = request("INFO", "Content-Type: application/x-foo\r\n", b"hello");
        let got = Received::of(&info, call());
        assert_eq!(
            got,
            Received::Info(Info {
                call: "c1".into(),
                peer: "sip:bob@127.0.0.1:5099".into(),
                content_type: "application/x-foo".into(),
                body: "hello".into(),
                body_base64: None,
            })
        );
        // A DTMF type naming no digit is not lost either.
        let odd = request(
            "INFO",
            "Content-Type: application/dtmf-relay\r\n",
            b"Signal=Z\r\n",
        );
        assert!(matches!(Received::of(&odd, call()), Received::Info(_)));
        let notify = request(
            "NOTIFY",
            "Event: refer\r\nSubscription-State: active\r\nContent-Type: message/sipfrag\r\n",
            b"SIP/2.0 200 OK\r\n",
        );
        let Received::Notify(notify) = Received::of(&notify, call()) else {
            panic!()
        };
        assert_eq!(notify.event, "refer");
        assert_eq!(notify.body, "SIP/2.0 200 OK\r\n");
    }

    #[test]
    fn a_body_too_large_is_refused_not_published() {
        let large = vec![b'a'; MAX_MESSAGE_BODY + 1];
        let got = Received::of(&request("MESSAGE", "", &large), call());
        assert_eq!(got.status(), StatusCode::RequestEntityTooLarge);
    }
}
