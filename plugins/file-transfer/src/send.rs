//! The user's file to SIP peers (`file_transfer.send`): the file is on the
//! user's XMPP server already (their client uploaded it, XEP-0363), so
//! each peer gets a MESSAGE pointing at it: GSMA RCS file-info (the form
//! liblinphone reads and fetches) or RFC 4483 content indirection, the
//! configured one first and the other when the peer answers 415; a peer
//! that answers 415 to both gets the link as text. Tandem serves no file
//! itself. With `offer_as = "msrp"` the file goes itself, over MSRP in a
//! SIP session (`direct::send`), and by link only to a peer that takes
//! no such session.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Method;
use tandem_sdk::commands::file_transfer::{Delivery, Recipient, Send, Sent};
use tandem_sdk::commands::sip::SendMessage;
use tandem_sdk::events::file_transfer::Delivered;
use tandem_sdk::{CommandError, CommandType, Host, Payload};
use tokio_rustls::rustls::ClientConfig;

use crate::context::Context;
use crate::described::Described;
use crate::direct::send as direct;
use crate::error::TransferError;
use crate::http::{request, send, TIMEOUT};
use crate::offer::{Form, EXTERNAL_BODY_TYPE, RCS_TYPE};
use crate::url::Url;

/// How long one peer's MESSAGE may take: a peer that never answers ends
/// the SIP transaction after 32 s (RFC 3261 Timer F).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(40);
/// How long an offer says the link stays valid (RCS `until`): the user's
/// server decides really; a week is what Prosody keeps uploads by default.
const VALID_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Fills in name, size and type from the server (HEAD) where `send`
/// leaves them out; refuses a link that is not a file. With all three
/// given (the user's client said them, XEP-0447), nothing is asked.
pub async fn describe(
    send_args: &Send,
    tls: &std::sync::Arc<ClientConfig>,
) -> Result<Described, CommandError> {
    let url = Url::parse(&send_args.url)
        .map_err(|e| CommandError::invalid_arguments(format!("not a file link: {e}")))?;
    let head =
        if send_args.name.is_some() && send_args.size.is_some() && send_args.media_type.is_some() {
            Head {
                size: None,
                media_type: None,
            }
        } else {
            head(&url, tls).await.map_err(|e| {
                CommandError::invalid_arguments(format!("the file cannot be offered: {e}"))
            })?
        };
    let media_type = send_args
        .media_type
        .as_deref()
        .and_then(crate::offer::clean_media_type)
        .or(head.media_type)
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    if media_type.starts_with("text/html") {
        return Err(CommandError::invalid_arguments(
            "the link is a web page, not a file",
        ));
    }
    let name = send_args
        .name
        .clone()
        .or_else(|| url.file_name())
        .map(|n| crate::name::sanitise(&n))
        .unwrap_or_else(|| "file".to_owned());
    let sha256 = send_args
        .sha256
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    Ok(Described {
        size: send_args.size.or(head.size),
        url,
        name,
        media_type,
        sha256,
    })
}

struct Head {
    size: Option<u64>,
    media_type: Option<String>,
}

/// HEAD `url`: 2xx, with its length and type.
async fn head(url: &Url, tls: &std::sync::Arc<ClientConfig>) -> Result<Head, TransferError> {
    let req = request(Method::HEAD, url)
        .body(Empty::<Bytes>::new())
        .map_err(|e| TransferError::Broken {
            host: url.host.clone(),
            detail: e.to_string(),
        })?;
    let response = send(url, tls, req, TIMEOUT).await?;
    crate::http::download::check_status(response.status(), url)?;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(Head {
        size: header(hyper::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        media_type: header(hyper::header::CONTENT_TYPE)
            .as_deref()
            .and_then(crate::offer::clean_media_type),
    })
}

/// Offers `file` to every peer at once, in the form `first` first, and
/// answers at once, every recipient `pending`: each peer is listed
/// (`sending`) until it answers, then `file_transfer.delivered` says how
/// it went. A peer that never answers costs its own 32 s, nobody else's.
pub fn start(ctx: &Arc<Context>, to: &[String], file: Described, first: Form) -> Sent {
    let id = ctx.offers().new_id();
    let mut recipients = Vec::new();
    for peer in to {
        let entry = ctx.offers().add_outgoing(peer, file.as_offer());
        let (ctx, id, to, file) = (ctx.clone(), id.clone(), peer.clone(), file.clone());
        tandem_sdk::tokio::spawn(async move {
            let peer = to;
            let outcome = offer_to(&ctx, &entry, &peer, &file, first).await;
            ctx.offers().remove(&entry.id);
            ctx.host.info(&format!(
                "{} to {peer}: {}{}",
                file.name,
                outcome.delivery.as_str(),
                outcome
                    .reason
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ));
            ctx.host.publish(&Delivered {
                id,
                peer,
                name: file.name,
                delivery: outcome.delivery,
                reason: outcome.reason,
            });
        });
        recipients.push(Recipient {
            peer: peer.clone(),
            delivery: Delivery::Pending,
            reason: None,
        });
    }
    Sent {
        id,
        name: file.name,
        size: file.size,
        recipients,
    }
}

/// One peer: the offer in `first`'s form, else (415) in the other, else
/// (415 again) the link as text. MSRP first: the file itself in a session
/// (`direct::send`), and the MESSAGE forms when the peer takes no such
/// session.
async fn offer_to(
    ctx: &Arc<Context>,
    entry: &crate::offers::Entry,
    peer: &str,
    file: &Described,
    mut first: Form,
) -> Recipient {
    let host = &ctx.host;
    if first == Form::Msrp {
        let failed = |reason| Recipient {
            peer: peer.to_owned(),
            delivery: Delivery::Failed,
            reason: Some(reason),
        };
        match crate::direct::send::send(ctx, entry, peer, file).await {
            direct::Outcome::Sent => {
                return Recipient {
                    peer: peer.to_owned(),
                    delivery: Delivery::Offered,
                    reason: None,
                }
            }
            direct::Outcome::Failed(reason) => return failed(reason),
            direct::Outcome::Unsupported => first = first.other(),
        }
    }
    let until = std::time::SystemTime::now() + VALID_FOR;
    let mut outcome = Err(CommandError::invalid_arguments("no offer made"));
    for form in [first, first.other()] {
        outcome = message(host, &offer(peer, file, form, until))
            .await
            .map(|()| Delivery::Offered);
        if !matches!(&outcome, Err(e) if unsupported(e)) {
            break;
        }
    }
    if matches!(&outcome, Err(e) if unsupported(e)) {
        let link = SendMessage {
            to: peer.to_owned(),
            body: file.url.to_string(),
            content_type: None,
        };
        outcome = message(host, &link).await.map(|()| Delivery::Link);
    }
    match outcome {
        Ok(delivery) => Recipient {
            peer: peer.to_owned(),
            delivery,
            reason: None,
        },
        Err(e) => Recipient {
            peer: peer.to_owned(),
            delivery: Delivery::Failed,
            reason: Some(
                SendMessage::refusal_code(&e)
                    .and_then(|code| direct::refusal_in_words(peer, code))
                    .unwrap_or(e.message),
            ),
        },
    }
}

/// The peer answered 415 Unsupported Media Type.
fn unsupported(e: &CommandError) -> bool {
    SendMessage::refusal_code(e) == Some(415)
}

/// The MESSAGE offering `file` to `peer` in `form`, valid until `until`.
fn offer(peer: &str, file: &Described, form: Form, until: std::time::SystemTime) -> SendMessage {
    let (content_type, body) = match form {
        // MSRP is not a MESSAGE (tried before these are): RCS stands in.
        Form::Rcs | Form::Msrp => (RCS_TYPE.to_owned(), file_info(file, until)),
        Form::ExternalBody => external_body(file, until),
    };
    SendMessage {
        to: peer.to_owned(),
        body,
        content_type: Some(content_type),
    }
}

async fn message(host: &Host, m: &SendMessage) -> Result<(), CommandError> {
    let args = Payload::encode(m)?;
    host.call_raw(SendMessage::NAME, args, MESSAGE_TIMEOUT)
        .await
        .map(|_| ())
}

/// The GSMA RCS file-info document (RCC.07 §3.2.5) for `file`, valid
/// until `until`.
pub fn file_info(file: &Described, until: std::time::SystemTime) -> String {
    let mut info = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <file xmlns=\"urn:gsma:params:xml:ns:rcs:rcs:fthttp\">\n\
         <file-info type=\"file\">\n",
    );
    if let Some(size) = file.size {
        info.push_str(&format!("<file-size>{size}</file-size>\n"));
    }
    info.push_str(&format!(
        "<file-name>{}</file-name>\n<content-type>{}</content-type>\n\
         <data url=\"{}\" until=\"{}\"/>\n</file-info>\n</file>\n",
        escape(&file.name),
        escape(&file.media_type),
        escape(&file.url.to_string()),
        rfc3339(until),
    ));
    info
}

/// RFC 4483 content indirection for `file`: the Content-Type
/// (`message/external-body; access-type=URL; URL=…; expiration=…; size=…`,
/// RFC 2017 and RFC 2046) and the body, the headers of the file that is
/// elsewhere (its type, and its name as a Content-Disposition filename, as
/// RFC 4483 §4 lets the body carry any MIME header of the indirect part).
/// No hash parameter: RFC 4483 names none (its example's `hash` is not
/// defined anywhere), so the XEP-0447 SHA-256 is not put on the wire here.
pub fn external_body(file: &Described, until: std::time::SystemTime) -> (String, String) {
    let secs = until
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut content_type = format!(
        "{EXTERNAL_BODY_TYPE}; access-type=URL; URL=\"{}\"; expiration=\"{}\"",
        quoted(&file.url.to_string()),
        tandem_sdk::util::utc::rfc1123(secs),
    );
    if let Some(size) = file.size {
        content_type.push_str(&format!("; size={size}"));
    }
    let body = format!(
        "Content-Type: {}\r\nContent-Disposition: render; filename=\"{}\"\r\n\r\n",
        file.media_type,
        quoted(&file.name),
    );
    (content_type, body)
}

/// `text` inside a MIME quoted string: no quote, backslash or line break
/// can end it early.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// RFC 3339 UTC, as RCS writes `until`.
fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    tandem_sdk::util::utc::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn file_info_reads_back_as_the_offer_it_describes() {
        let file = Described {
            url: Url::parse("http://127.0.0.1:5280/share/a1/holiday&co.jpg").unwrap(),
            name: "holiday&co.jpg".into(),
            size: Some(2_100_000),
            media_type: "image/jpeg".into(),
            sha256: None,
        };
        let until = UNIX_EPOCH + Duration::from_secs(1_409_646_711);
        let body = file_info(&file, until);
        assert!(body.contains("until=\"2014-09-02T08:31:51Z\""), "{body}");
        let offer = crate::offer::rcs::parse(&body).unwrap();
        assert_eq!(offer.name.as_deref(), Some("holiday&co.jpg"));
        assert_eq!(offer.size, Some(2_100_000));
        assert_eq!(offer.media_type.as_deref(), Some("image/jpeg"));
        assert_eq!(offer.link(), Some(&file.url));
    }

    #[test]
    fn external_body_reads_back_as_the_offer_it_describes() {
        let file = Described {
            url: Url::parse("http://127.0.0.1:5280/share/a1/holiday.jpg").unwrap(),
            name: "my \"best\" holiday.jpg".into(),
            size: Some(2_100_000),
            media_type: "image/jpeg".into(),
            sha256: None,
        };
        let until = UNIX_EPOCH + Duration::from_secs(1_409_646_711);
        let (content_type, body) = external_body(&file, until);
        assert!(
            content_type.contains("expiration=\"Tue, 02 Sep 2014 08:31:51 GMT\""),
            "{content_type}"
        );
        let offer = crate::offer::external_body::parse(&content_type, &body).unwrap();
        assert_eq!(offer.name.as_deref(), Some("my \"best\" holiday.jpg"));
        assert_eq!(offer.size, Some(2_100_000));
        assert_eq!(offer.media_type.as_deref(), Some("image/jpeg"));
        assert_eq!(offer.link(), Some(&file.url));
    }
}
