//! What the session remembers of others, each kept bounded because anyone
//! can send stanzas from as many JIDs as their server likes: the roster
//! and contacts' presence and addresses, contacts' client capabilities
//! (XEP-0115), chat-state peers (XEP-0085), the open multi-step ad-hoc
//! command sessions (XEP-0050) and the user's XMPP calls (XEP-0353).
//! Plain state, no I/O: the session drives it.

pub mod adhoc_sessions;
pub mod bindings;
pub mod caps;
pub mod chat_states;
pub mod contacts;
pub mod identify;
pub mod jingle_calls;
pub mod phone_key;
pub mod preauth;
pub mod sip_key;
