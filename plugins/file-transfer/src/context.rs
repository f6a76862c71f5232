//! What every transfer shares (the host, TLS settings, the download
//! folder and limits, the table of offers, the SIP sessions followed),
//! and the one way a new offer is told, however it came. Below both
//! transports (HTTP, MSRP in SIP sessions) and above the table.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tandem_sdk::commands::sip_session::IN_CALL_ANSWER_SECONDS;
use tandem_sdk::events::file_transfer::Offered;
use tandem_sdk::Host;
use tokio_rustls::rustls::ClientConfig;

use crate::offers::{Entry, Offers};

/// What every transfer shares.
pub struct Context {
    pub host: Host,
    pub tls: Arc<ClientConfig>,
    pub dir: PathBuf,
    pub max_size: u64,
    pub keep_files: bool,
    pub offers: Arc<Mutex<Offers>>,
    /// File bytes per MSRP chunk.
    pub chunk_size: usize,
    /// The address written in our MSRP offers and answers, if set.
    pub msrp_address: Option<std::net::IpAddr>,
    /// What the SIP plugin said of the sessions direct transfers wait on.
    pub sessions: crate::sessions::Sessions,
    /// The MSRP relay our sessions go through, when configured
    /// (`direct::relayed`, docs/decisions/0068).
    pub msrp_relay: Option<crate::msrp::relay::Relay>,
    /// Whether the log has said that chunks are cut to the relay's limit.
    pub relay_chunk_said: std::sync::atomic::AtomicBool,
}

impl Context {
    pub fn offers(&self) -> std::sync::MutexGuard<'_, Offers> {
        self.offers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells rules (and through them the user) of a new offer, however it
    /// came: one event, so the user is asked the same way for each. `call`:
    /// the call it came inside, where it waits only as long as the SIP
    /// plugin holds the peer's re-INVITE.
    pub fn announce(
        &self,
        entry: &Entry,
        peer_name: Option<String>,
        vouched: bool,
        call: Option<String>,
    ) {
        let ttl = self.offers().ttl().as_secs();
        let expires_in = match call {
            Some(_) => ttl.min(IN_CALL_ANSWER_SECONDS),
            None => ttl,
        };
        let inside = call
            .as_deref()
            .map(|c| format!(" in call {c}"))
            .unwrap_or_default();
        self.host.info(&format!(
            "{} offers {}{inside} ({})",
            entry.peer, entry.name, entry.id
        ));
        self.host.publish(&Offered {
            id: entry.id.clone(),
            peer: entry.peer.clone(),
            peer_name,
            vouched,
            name: entry.name.clone(),
            size: entry.offer.size,
            media_type: entry.offer.media_type.clone(),
            url: entry.offer.link().map(ToString::to_string),
            via: entry.offer.form.as_str().to_owned(),
            expires_in,
            call,
        });
    }
}
