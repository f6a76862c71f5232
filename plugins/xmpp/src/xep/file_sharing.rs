//! XEP-0447 stateless file sharing with XEP-0446 metadata (name, size,
//! type, hash): written on the files Tandem shares with the user's clients
//! (for clients that show more than XEP-0066's URL), read on the files the
//! user's client shares with Tandem, so that what it said of the file
//! travels on to the SIP peer without asking the server again.

use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

/// The file: where, and what (what `xmpp.notify_user` takes).
pub use tandem_sdk::commands::xmpp::SharedFile;
/// What a received `<file-sharing/>` says (what `xmpp.message` carries).
pub use tandem_sdk::events::xmpp::MessageFile;

pub const SFS: &str = "urn:xmpp:sfs:0";
pub const METADATA: &str = "urn:xmpp:file:metadata:0";
pub const URL_DATA: &str = "http://jabber.org/protocol/url-data";
const HASHES: &str = "urn:xmpp:hashes:2";
/// Longer metadata text is not a file name or a media type: dropped.
const MAX_TEXT: usize = 1024;

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

/// The first `<file-sharing/>` among `payloads` with an `http(s)` source
/// (XEP-0103 url-data; Jingle sources are not for Tandem), and what its
/// metadata says. Metadata that does not read (a size that is not a
/// number, a hash that is not 32 bytes) is left out, not guessed.
pub fn read(payloads: &[Element]) -> Option<MessageFile> {
    payloads
        .iter()
        .filter(|p| p.is("file-sharing", SFS))
        .find_map(read_one)
}

fn read_one(sharing: &Element) -> Option<MessageFile> {
    let url = sharing
        .get_child("sources", SFS)?
        .children()
        .filter(|s| s.is("url-data", URL_DATA))
        .filter_map(|s| s.attr("target"))
        .map(str::trim)
        .find(|url| crate::xep::oob::is_http(url))?
        .to_owned();
    let Some(meta) = sharing.get_child("file", METADATA) else {
        return Some(MessageFile {
            url,
            ..MessageFile::default()
        });
    };
    let text = |name: &str| {
        meta.get_child(name, METADATA)
            .map(|e| e.text().trim().to_owned())
            .filter(|t| !t.is_empty() && t.len() <= MAX_TEXT)
    };
    let sha256 = meta
        .children()
        .filter(|h| h.is("hash", HASHES))
        .filter_map(|h| Hash::try_from(h.clone()).ok())
        .find(|h| h.algo == Algo::Sha_256 && h.hash.len() == 32)
        .map(|h| h.to_hex());
    Some(MessageFile {
        url,
        name: text("name"),
        size: text("size").and_then(|s| s.parse().ok()),
        media_type: text("media-type"),
        sha256,
    })
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
    fn what_is_written_reads_back() {
        let file = holiday();
        let read = read(&[file_sharing(&file)]).unwrap();
        assert_eq!(
            read,
            MessageFile {
                url: file.url,
                name: Some(file.name),
                size: Some(file.size),
                media_type: file.media_type,
                sha256: file.sha256,
            }
        );
    }

    #[test]
    fn reads_a_clients_stanza_and_skips_what_does_not_read() {
        // As Dino writes it (XEP-0447 example 1), with a Jingle source
        // first and a size that is not a number.
        let sharing: Element = "<file-sharing xmlns='urn:xmpp:sfs:0' disposition='inline'>\
            <file xmlns='urn:xmpp:file:metadata:0'>\
              <media-type>image/jpeg</media-type><name>summit.jpg</name><size>3.1 MB</size>\
              <hash xmlns='urn:xmpp:hashes:2' algo='sha3-256'>2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=</hash>\
              <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</hash>\
            </file>\
            <sources>\
              <jinglepub xmlns='urn:xmpp:jinglepub:1' from='a@b/c' id='x'/>\
              <url-data xmlns='http://jabber.org/protocol/url-data' target='ftp://x/y'/>\
              <url-data xmlns='http://jabber.org/protocol/url-data' target='https://download.montague.lit/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/summit.jpg'/>\
            </sources>\
          </file-sharing>"
            .parse()
            .unwrap();
        let file = read(&[sharing]).unwrap();
        assert_eq!(
            file.url,
            "https://download.montague.lit/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/summit.jpg"
        );
        assert_eq!(file.name.as_deref(), Some("summit.jpg"));
        assert_eq!(file.size, None);
        assert_eq!(file.media_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            file.sha256.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn a_file_without_a_web_source_is_not_read() {
        let sharing: Element = "<file-sharing xmlns='urn:xmpp:sfs:0'>\
            <file xmlns='urn:xmpp:file:metadata:0'><name>a</name></file>\
            <sources><jinglepub xmlns='urn:xmpp:jinglepub:1' from='a@b/c' id='x'/></sources>\
          </file-sharing>"
            .parse()
            .unwrap();
        assert_eq!(read(&[sharing]), None);
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
