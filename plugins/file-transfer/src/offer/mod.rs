//! File offers as SIP peers write them in a MESSAGE: what a file is
//! called, how big it is, what type, and where to fetch it.
//!
//! Two forms: GSMA RCS file transfer over HTTP (`rcs`, what liblinphone
//! sends) and RFC 4483 content indirection (`external_body`). Both are
//! pure parsers of text from a stranger, with size caps. A third way in,
//! an MSRP session (RFC 5547), is read by `msrp::sdp` and lands in the
//! same [`Offer`] with a [`Source::Session`].

pub mod external_body;
pub mod rcs;
pub mod xml;

use thiserror::Error;

use crate::url::{Url, UrlError};

/// The RCS file-info content type (GSMA RCC.07 §3.2.5).
pub const RCS_TYPE: &str = "application/vnd.gsma.rcs-ft-http+xml";
/// RFC 4483's content type (with `access-type=URL`).
pub const EXTERNAL_BODY_TYPE: &str = "message/external-body";

/// Which form an offer came in (or goes out in first: `offer_as` in the
/// config, written as `as_str` writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    #[default]
    Rcs,
    ExternalBody,
    /// The file itself over MSRP in a SIP session of its own (RFC 4975,
    /// RFC 5547): no link, the bytes go from one end to the other.
    Msrp,
}

impl Form {
    /// The `via` of `file_transfer.offered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Rcs => "rcs",
            Form::ExternalBody => "external-body",
            Form::Msrp => "msrp",
        }
    }

    /// The form tried when a peer answers 415 to this one (or, to MSRP,
    /// any answer saying it takes no such session).
    pub fn other(self) -> Form {
        match self {
            Form::Rcs => Form::ExternalBody,
            Form::ExternalBody | Form::Msrp => Form::Rcs,
        }
    }

    /// The form a MESSAGE's Content-Type announces, if it is a file offer.
    pub fn of(content_type: &str) -> Option<Form> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case(RCS_TYPE) {
            Some(Form::Rcs)
        } else if media.eq_ignore_ascii_case(EXTERNAL_BODY_TYPE) {
            Some(Form::ExternalBody)
        } else {
            None
        }
    }
}

/// A file offered, as the peer described it (the name not yet sanitised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub form: Form,
    /// The name as the peer wrote it (or the URL's last segment).
    pub name: Option<String>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    pub source: Source,
}

impl Offer {
    /// Where an HTTP offer's file is; none for a direct one.
    pub fn link(&self) -> Option<&Url> {
        match &self.source {
            Source::Link(url) => Some(url),
            Source::Session(_) => None,
        }
    }
}

/// Where the file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An HTTP(S) GET (RCS file-info, RFC 4483).
    Link(Url),
    /// The SIP session the peer offered it in, and its MSRP stream.
    Session(Box<SessionOffer>),
}

/// A file offered in a SIP session (RFC 5547): the SIP plugin's session
/// id, to answer it, and the stream as the offer's SDP describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOffer {
    pub session: String,
    pub stream: crate::msrp::sdp::FileStream,
}

/// Why a MESSAGE that announced a file offer could not be read as one.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OfferError {
    #[error("the RCS file-info is not XML Tandem can read: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("the RCS file-info has no <file-info type=\"file\"> with a <data url=…>")]
    NoFile,
    #[error("the file is encrypted end to end (RCS file-key), which Tandem cannot decrypt")]
    Encrypted,
    #[error("the file's address cannot be fetched: {0}")]
    Url(#[from] UrlError),
    #[error("the size `{0}` is not a number of bytes")]
    Size(String),
    #[error("message/external-body with access-type `{0}`: only URL is supported")]
    AccessType(String),
    #[error("message/external-body without a URL parameter")]
    NoUrl,
    #[error("the offer is {0} bytes, more than an offer may have")]
    TooLarge(usize),
    #[error("a file offered in a session does not come in a message")]
    NotAMessage,
}

/// Reads the offer in a MESSAGE of `content_type` (one [`Form::of`] knows).
pub fn parse(form: Form, content_type: &str, body: &str) -> Result<Offer, OfferError> {
    match form {
        Form::Rcs => rcs::parse(body),
        Form::ExternalBody => external_body::parse(content_type, body),
        Form::Msrp => Err(OfferError::NotAMessage),
    }
}

/// A size as written: digits only, within u64.
fn parse_size(text: &str) -> Result<u64, OfferError> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OfferError::Size(t.chars().take(32).collect()));
    }
    t.parse()
        .map_err(|_| OfferError::Size(t.chars().take(32).collect()))
}

/// A media type worth passing on: `type/subtype`, printable, short.
pub(crate) fn clean_media_type(text: &str) -> Option<String> {
    let t = text.split(';').next()?.trim().to_ascii_lowercase();
    let ok = t.len() <= 127
        && t.split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/+-._".contains(&b));
    ok.then_some(t)
}
