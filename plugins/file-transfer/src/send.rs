//! The user's file to SIP peers (`file_transfer.send`): the file is on the
//! user's XMPP server already (their client uploaded it, XEP-0363), so
//! each peer gets a MESSAGE with GSMA RCS file-info pointing at it, the
//! form liblinphone reads and fetches; a peer that answers 415 gets the
//! link as text instead. Tandem serves no file itself.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Method;
use tandem_sdk::commands::file_transfer::{Delivery, Recipient, Send, Sent};
use tandem_sdk::commands::sip::SendMessage;
use tandem_sdk::{CommandError, CommandType, Host, Payload};
use tokio_rustls::rustls::ClientConfig;

use crate::error::TransferError;
use crate::http::{request, send, TIMEOUT};
use crate::offer::RCS_TYPE;
use crate::url::Url;

/// How long one peer's MESSAGE may take: a peer that never answers ends
/// the SIP transaction after 32 s (RFC 3261 Timer F).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(40);
/// How long an offer says the link stays valid (RCS `until`): the user's
/// server decides really; a week is what Prosody keeps uploads by default.
const VALID_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// What is offered, once the server has filled in what the caller left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub url: Url,
    pub name: String,
    pub size: Option<u64>,
    pub media_type: String,
    /// SHA-256, lower-case hex, as the user's client said it (XEP-0447):
    /// kept for the offers that carry one; never computed here (Tandem
    /// does not fetch the user's own file).
    pub sha256: Option<String>,
}

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

/// Offers `file` to every peer at once; one outcome each, in `to`'s order.
pub async fn offer_to_all(host: &Host, to: &[String], file: &Described) -> Sent {
    let mut tasks = Vec::new();
    for peer in to {
        let (host, peer, file) = (host.clone(), peer.clone(), file.clone());
        tasks.push(tandem_sdk::tokio::spawn(async move {
            offer_to(&host, &peer, &file).await
        }));
    }
    let mut recipients = Vec::new();
    for (task, peer) in tasks.into_iter().zip(to) {
        recipients.push(task.await.unwrap_or_else(|e| Recipient {
            peer: peer.clone(),
            delivery: Delivery::Failed,
            reason: Some(format!("the offer stopped: {e}")),
        }));
    }
    Sent {
        name: file.name.clone(),
        size: file.size,
        recipients,
    }
}

/// One peer: RCS file-info, else (415) the link as text.
async fn offer_to(host: &Host, peer: &str, file: &Described) -> Recipient {
    let rcs = SendMessage {
        to: peer.to_owned(),
        body: file_info(file, std::time::SystemTime::now() + VALID_FOR),
        content_type: Some(RCS_TYPE.to_owned()),
    };
    let outcome = match message(host, &rcs).await {
        Ok(()) => Ok(Delivery::Offered),
        Err(e) if e.message.contains(" answered 415") => {
            let link = SendMessage {
                to: peer.to_owned(),
                body: file.url.to_string(),
                content_type: None,
            };
            message(host, &link).await.map(|()| Delivery::Link)
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(delivery) => Recipient {
            peer: peer.to_owned(),
            delivery,
            reason: None,
        },
        Err(e) => Recipient {
            peer: peer.to_owned(),
            delivery: Delivery::Failed,
            reason: Some(e.message),
        },
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
        assert_eq!(offer.url, file.url);
    }
}
