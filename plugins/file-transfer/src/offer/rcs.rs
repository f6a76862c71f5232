//! GSMA RCS file transfer over HTTP: the file-info document
//! (`application/vnd.gsma.rcs-ft-http+xml`, RCC.07 §3.2.5) a peer sends
//! once it has uploaded a file to its own server. liblinphone sends it.
//!
//! ```xml
//! <file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp">
//!   <file-info type="thumbnail">…</file-info>          (ignored)
//!   <file-info type="file">
//!     <file-size>1273982</file-size>
//!     <file-name>IMG_1.jpg</file-name>
//!     <content-type>image/jpeg</content-type>
//!     <data url="https://…" until="2014-09-02T08:31:51Z"/>
//!   </file-info>
//! </file>
//! ```

use super::{clean_media_type, parse_size, xml, Form, Offer, OfferError, Source};
use crate::url::Url;

pub fn parse(body: &str) -> Result<Offer, OfferError> {
    let root = xml::parse(body)?;
    if root.name != "file" {
        return Err(OfferError::NoFile);
    }
    let info = root
        .children
        .iter()
        .find(|c| c.name == "file-info" && c.attr("type").unwrap_or("file") == "file")
        .ok_or(OfferError::NoFile)?;
    // liblinphone's LIME encryption: the content is ciphertext.
    if info.child("file-key").is_some() {
        return Err(OfferError::Encrypted);
    }
    let url = info
        .child("data")
        .and_then(|d| d.attr("url"))
        .ok_or(OfferError::NoFile)?;
    Ok(Offer {
        form: Form::Rcs,
        name: info
            .child_text("file-name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        size: info.child_text("file-size").map(parse_size).transpose()?,
        media_type: info.child_text("content-type").and_then(clean_media_type),
        source: Source::Link(Url::parse(url)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RCC.07's example, as liblinphone writes it (with a thumbnail first).
    const EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp" xmlns:am="urn:gsma:params:xml:ns:rcs:rcs:rram">
<file-info type="thumbnail">
<file-size>7427</file-size>
<content-type>image/jpeg</content-type>
<data url="https://ftcontentserver.example.org/thumb/abc" until="2014-09-02T08:31:51Z"/>
</file-info>
<file-info type="file" file-disposition="render">
<file-size>1273982</file-size>
<file-name>IMG_20140826_113342.jpg</file-name>
<content-type>image/jpeg</content-type>
<am:playing-length>0</am:playing-length>
<data url="https://ftcontentserver.example.org/file/xyz?t=a&amp;b=c" until="2014-09-02T08:31:51Z"/>
</file-info>
</file>"#;

    #[test]
    fn reads_the_file_and_skips_the_thumbnail() {
        let offer = parse(EXAMPLE).unwrap();
        assert_eq!(offer.name.as_deref(), Some("IMG_20140826_113342.jpg"));
        assert_eq!(offer.size, Some(1273982));
        assert_eq!(offer.media_type.as_deref(), Some("image/jpeg"));
        assert_eq!(offer.link().unwrap().path, "/file/xyz?t=a&b=c");
        assert_eq!(offer.form, Form::Rcs);
    }

    #[test]
    fn refuses_what_cannot_be_fetched_or_read() {
        let no_file = EXAMPLE.replace("type=\"file\"", "type=\"other\"");
        assert_eq!(parse(&no_file), Err(OfferError::NoFile));
        let ftp = EXAMPLE.replace("https://ftcontentserver.example.org/file", "ftp://x/file");
        assert!(matches!(parse(&ftp), Err(OfferError::Url(_))));
        let bad_size = EXAMPLE.replace("1273982", "-1");
        assert!(matches!(parse(&bad_size), Err(OfferError::Size(_))));
        let lime = EXAMPLE.replace("<file-name>", "<file-key>k</file-key><file-name>");
        assert_eq!(parse(&lime), Err(OfferError::Encrypted));
        assert!(matches!(parse("<file><file-info"), Err(OfferError::Xml(_))));
        assert_eq!(parse("<other/>"), Err(OfferError::NoFile));
        let weird_type = EXAMPLE.replace(
            "<content-type>image/jpeg</content-type>\n<am",
            "<content-type>image/jpeg\r\nX: y</content-type>\n<am",
        );
        assert_eq!(parse(&weird_type).unwrap().media_type, None);
    }
}
