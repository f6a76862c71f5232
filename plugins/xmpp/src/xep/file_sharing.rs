//! A shared file in a message: XEP-0066 out-of-band data (what Gajim,
//! Dino and Conversations show inline when the body is exactly the URL)
//! and XEP-0447 stateless file sharing with XEP-0446 metadata (name, size,
//! type, hash) for clients that show more.

use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

/// The file: where, and what (what `xmpp.notify_user` takes).
pub use tandem_sdk::commands::xmpp::SharedFile;

pub const SFS: &str = "urn:xmpp:sfs:0";
pub const METADATA: &str = "urn:xmpp:file:metadata:0";
pub const URL_DATA: &str = "http://jabber.org/protocol/url-data";

/// XEP-0066's `<x xmlns='jabber:x:oob'>` for it.
pub fn oob(file: &SharedFile) -> Element {
    Oob {
        url: file.url.clone(),
        desc: None,
    }
    .into()
}

/// XEP-0447's `<file-sharing/>` for it (inline: a picture is shown).
pub fn file_sharing(file: &SharedFile) -> Element {
    let text = |name: &str, value: &str| Element::builder(name, METADATA).append(value).build();
    let mut metadata = Element::builder("file", METADATA)
        .append(text("name", &file.name))
        .append(text("size", &file.size.to_string()));
    if let Some(media_type) = &file.media_type {
        metadata = metadata.append(text("media-type", media_type));
    }
    if let Some(digest) = file.sha256.as_deref().and_then(hex_bytes) {
        metadata = metadata.append(Element::from(Hash::new(Algo::Sha_256, digest)));
    }
    let sources = Element::builder("sources", SFS).append(
        Element::builder("url-data", URL_DATA)
            .attr(xml_ncname!("target").to_owned(), file.url.as_str())
            .build(),
    );
    Element::builder("file-sharing", SFS)
        .attr(xml_ncname!("disposition").to_owned(), "inline")
        .append(metadata.build())
        .append(sources.build())
        .build()
}

/// The 32 bytes of a SHA-256 written in hex (as the SDK speaks it; XEP-0300
/// writes base64). None for anything that is not 64 hex digits.
fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holiday() -> SharedFile {
        SharedFile {
            url: "https://upload.example.org/a1/holiday.jpg".into(),
            name: "holiday.jpg".into(),
            size: 2_100_000,
            media_type: Some("image/jpeg".into()),
            // SHA-256 of the empty string.
            sha256: Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()),
        }
    }

    #[test]
    fn oob_carries_the_url() {
        let text = String::from(&oob(&holiday()));
        assert!(text.contains("jabber:x:oob"), "{text}");
        assert!(
            text.contains("<url>https://upload.example.org/a1/holiday.jpg</url>"),
            "{text}"
        );
    }

    #[test]
    fn file_sharing_says_name_size_type_and_hash() {
        let text = String::from(&file_sharing(&holiday()));
        for part in [
            "disposition='inline'",
            "<name>holiday.jpg</name>",
            "<size>2100000</size>",
            "<media-type>image/jpeg</media-type>",
            "algo='sha-256'",
            // The empty string's SHA-256 in base64, as XEP-0300 writes it.
            ">47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</hash>",
            "target='https://upload.example.org/a1/holiday.jpg'",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }

    #[test]
    fn a_malformed_hash_is_left_out() {
        let mut file = holiday();
        file.sha256 = Some("not hex".into());
        let text = String::from(&file_sharing(&file));
        assert!(!text.contains("<hash"), "{text}");
    }
}
