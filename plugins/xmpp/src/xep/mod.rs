//! Pure payload codecs, one module per XEP (as Prosody keeps one module
//! per XEP): typed values to and from XML elements, for what xmpp-parsers
//! lacks or for the sidecar's own view of it. Nothing here knows the
//! session, the host or the bus; the session builds stanzas from these.
//!
//! - [`activity`]: XEP-0108 user activity
//! - [`adhoc`]: XEP-0050 ad-hoc command payloads
//! - [`delay`]: XEP-0203 delayed delivery stamps (XEP-0082 time)
//! - [`call_invite`]: XEP-0482 call invites and their answers
//! - [`caps`]: the sidecar's own XEP-0030 disco#info and its XEP-0115 hash
//! - [`file_sharing`]: XEP-0447 stateless file sharing with XEP-0446 metadata (written and read)
//! - [`http_upload`]: XEP-0363 upload slots and the service that gives them
//! - [`oob`]: XEP-0066 out-of-band data (a shared file's URL, written and read)
//! - [`jingle_message`]: XEP-0353 Jingle Message Initiation (read; `<reject>` written)
//! - [`reach`]: XEP-0152 reachability addresses
//! - [`reply`]: XEP-0461 replies and their XEP-0428 fallback quote
//! - [`vcard`]: SIP addresses from XEP-0054 vcard-temp and XEP-0292 vCard4

pub mod activity;
pub mod adhoc;
pub mod call_invite;
pub mod caps;
pub mod delay;
pub mod file_sharing;
pub mod http_upload;
pub mod jingle_message;
pub mod oob;
pub mod preauth;
pub mod reach;
pub mod reply;
pub mod vcard;
