//! RFC 4483 content indirection: a MESSAGE whose Content-Type is
//! `message/external-body; access-type=URL; URL="…"` (RFC 2017) and whose
//! body is the headers of the body that is elsewhere (its Content-Type,
//! maybe a Content-Disposition with a file name), then an empty line.
//!
//! ```text
//! Content-Type: message/external-body; ACCESS-TYPE=URL;
//!         URL="http://www.example.com/the-indirect-content.au";
//!         EXPIRATION="Mon, 24 June 2002 09:00:00 GMT"; size=52723
//!
//! Content-Type: audio/basic
//! Content-Disposition: render; filename="note.au"
//! ```

use super::{clean_media_type, parse_size, Form, Offer, OfferError, Source};
use crate::url::Url;

/// Inner headers longer than this are refused.
const MAX_BODY: usize = 8 * 1024;

pub fn parse(content_type: &str, body: &str) -> Result<Offer, OfferError> {
    if body.len() > MAX_BODY {
        return Err(OfferError::TooLarge(body.len()));
    }
    let params = parameters(content_type);
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let access = param("access-type").unwrap_or("");
    if !access.eq_ignore_ascii_case("url") {
        return Err(OfferError::AccessType(access.chars().take(32).collect()));
    }
    // RFC 2017: the URL may be broken over lines; whitespace is not part of it.
    let url: String = param("url")
        .ok_or(OfferError::NoUrl)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let url = Url::parse(&url)?;

    let mut media_type = None;
    let mut name = param("name").map(str::to_owned);
    for (header, value) in headers(body) {
        if header.eq_ignore_ascii_case("content-type") {
            media_type = clean_media_type(&value);
        } else if header.eq_ignore_ascii_case("content-disposition") {
            if let Some((_, n)) = parameters(&value)
                .into_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("filename"))
            {
                name = Some(n);
            }
        }
    }
    let name = name.filter(|n| !n.is_empty()).or_else(|| url.file_name());
    Ok(Offer {
        form: Form::ExternalBody,
        name,
        size: param("size").map(parse_size).transpose()?,
        media_type,
        source: Source::Link(url),
    })
}

/// The `;`-separated `name=value` parameters after a header's first value,
/// values unquoted (`\"` inside quotes is a quote).
fn parameters(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match value.find(';') {
        Some(at) => &value[at + 1..],
        None => return out,
    };
    while !rest.trim().is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_owned();
        let after = rest[eq + 1..].trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => val.push(c),
                }
            }
            let tail = &quoted[end.min(quoted.len())..];
            (val, tail.find(';').map_or("", |i| &tail[i + 1..]))
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (
                after[..end].trim().to_owned(),
                after.get(end + 1..).unwrap_or(""),
            )
        };
        out.push((name, val));
        rest = next;
    }
    out
}

/// Header lines (folded lines joined) up to the first empty line after
/// at least one header; leading empty lines are skipped.
fn headers(body: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in body.trim_start_matches(['\r', '\n']).lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4483 §6's example, with a file name added as linphone does.
    const TYPE: &str = "message/external-body; ACCESS-TYPE=URL;\r\n URL=\"http://www.example.com/the-indirect-content.au\";\r\n EXPIRATION=\"Mon, 24 June 2002 09:00:00 GMT\"; size=52723;\r\n hash=10AB568E91245681AC1B";
    const BODY: &str = "Content-Type: audio/basic\r\nContent-ID: <4e5562cd1214427d@example.com>\r\nContent-Disposition: render;\r\n filename=\"my note.au\"\r\n\r\n";

    #[test]
    fn reads_rfc_4483s_example() {
        let offer = parse(TYPE, BODY).unwrap();
        assert_eq!(offer.link().unwrap().host, "www.example.com");
        assert_eq!(offer.link().unwrap().path, "/the-indirect-content.au");
        assert_eq!(offer.size, Some(52723));
        assert_eq!(offer.media_type.as_deref(), Some("audio/basic"));
        assert_eq!(offer.name.as_deref(), Some("my note.au"));
        assert_eq!(offer.form, Form::ExternalBody);
    }

    #[test]
    fn names_the_file_after_the_url_when_nothing_else_does() {
        let offer = parse(
            "message/external-body;access-type=url;url=\"http://x/d/holiday%20pic.jpg\"",
            "",
        )
        .unwrap();
        assert_eq!(offer.name.as_deref(), Some("holiday pic.jpg"));
        assert_eq!((offer.size, offer.media_type), (None, None));
    }

    #[test]
    fn refuses_other_access_types_and_missing_urls() {
        let anon = "message/external-body; access-type=anon-ftp; site=x; name=y";
        assert!(matches!(parse(anon, ""), Err(OfferError::AccessType(_))));
        assert_eq!(
            parse("message/external-body; access-type=URL", ""),
            Err(OfferError::NoUrl)
        );
        let q = "message/external-body; access-type=URL; URL=\"http://x/a\\\"b\"";
        assert!(parse(q, "").is_ok());
        assert!(matches!(
            parse(TYPE, &"x".repeat(MAX_BODY + 1)),
            Err(OfferError::TooLarge(_))
        ));
    }
}
