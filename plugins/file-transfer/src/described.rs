//! The user's file as it is offered to SIP peers (`file_transfer.send`):
//! a leaf both ways of sending use, the MESSAGE forms (`send`) and the
//! direct one (`direct::send`).

use crate::offer::Form;
use crate::url::Url;

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

impl Described {
    /// The file as the table of offers lists it (an RCS offer of the link:
    /// how it is first offered, unless `offer_as` says otherwise).
    pub fn as_offer(&self) -> crate::offer::Offer {
        crate::offer::Offer {
            form: Form::Rcs,
            name: Some(self.name.clone()),
            size: self.size,
            media_type: Some(self.media_type.clone()),
            source: crate::offer::Source::Link(self.url.clone()),
        }
    }
}
