//! # tandem-plugin-file-transfer
//!
//! Files from SIP peers, into the user's XMPP client. A SIP peer offers a
//! file by MESSAGE, pointing at an HTTP(S) URL: GSMA RCS file-info
//! (`application/vnd.gsma.rcs-ft-http+xml`, as liblinphone sends) or
//! RFC 4483 `message/external-body; access-type=URL`. The plugin publishes
//! the offer and fetches nothing until it is accepted (by the user through
//! a rule, `scripts/accept-files.lua`, or by a rule on its own). Accepted,
//! the file is streamed to the download folder (SHA-256 and size checked
//! as it arrives), uploaded to the user's XMPP server (XEP-0363, through
//! `xmpp.upload_slot`) and shared with the user's clients
//! (`xmpp.notify_user` with `file`: the URL as body, OOB and XEP-0447).
//!
//! A peer may also send the file itself over MSRP in a SIP session of its
//! own (RFC 5547): the SIP plugin hands the session over
//! (`sip.take_session`), and it becomes an offer like the others; the
//! user's files go that way too with `offer_as = "msrp"` (`direct/`).
//!
//! It depends only on the SDK: `sip.message` events in; `xmpp.upload_slot`
//! and `xmpp.notify_user` calls out; HTTP on hyper and rustls. No policy:
//! who may send, what size, what to say to the user are the rule's.
//! Layout: `offer/` (the two offer forms, pure parsers with size caps),
//! `name` (file names made safe), `offers` (the bounded table), `url`
//! (an HTTP(S) address taken apart, a leaf), `http/` (download, upload),
//! `transfer` (one accepted offer, start to end), `send` (the user's file
//! to SIP peers), `msrp/` (the MSRP protocol), `direct/` (MSRP transfers
//! in SIP sessions), `interrupted` (what a stopped run left half-done),
//! `error` (what failed, in plain words), this file (config, events,
//! commands).
//!
//! ## Commands
//!
//! - `file_transfer.accept`: fetch an offered file and share it with the user
//! - `file_transfer.reject`: turn an offer down
//! - `file_transfer.list`: the offers waiting and the transfers under way
//! - `file_transfer.send`: offer a file the user uploaded to SIP peers
//! - `file_transfer.cancel`: stop a transfer (or turn an offer down)
//! - `sip.take_session`: a SIP session offering a file (the SIP plugin asks)
//!
//! ## Events
//!
//! - `file_transfer.offered`: a peer offers a file
//! - `file_transfer.completed`: an accepted file reached the user's clients
//! - `file_transfer.failed`: an accepted file did not (or an offer could not be read)
//! - `file_transfer.closed`: an offer was rejected or expired
//! - `file_transfer.delivered`: how the user's file reached one SIP peer

mod context;
mod described;
mod direct;
mod error;
mod fetched;
mod http;
mod interrupted;
/// Public for tests/msrp_relay.rs, which runs both ends of a transfer
/// through Kamailio's MSRP relay; not an API for anything else.
#[doc(hidden)]
pub mod msrp;
/// Public for tests/msrp_relay.rs: the TLS settings an `msrps://` relay
/// is reached with (the system's roots, `SSL_CERT_FILE`).
#[doc(hidden)]
pub use tls::config as tls_config;
mod name;
mod offer;
mod offers;
mod send;
mod sessions;
mod tls;
mod transfer;
mod url;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tandem_sdk::commands::file_transfer::{
    Accept, Cancel, Direction, List, Reject, Send, Sent, Transfer, TransferState, Transfers,
};
use tandem_sdk::commands::sip_session::{TakeSession, Taken};
use tandem_sdk::events::file_transfer::{CloseReason, Closed, Failed};
use tandem_sdk::events::sip::Message;
use tandem_sdk::events::sip_session::{Answered, Ended};
use tandem_sdk::util::LogThrottle;
use tandem_sdk::{
    export_plugin, BoxError, CommandError, Commands, Event, EventType, Handler, Host, Manifest,
    Plugin,
};

use context::Context;
use offer::Form;
use offers::Offers;

/// The host's "every plugin has started".
const HOST_READY: &str = "host.ready";

/// `[plugins.file-transfer]` in tandem.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where downloads go (and stay, with `keep_files`). Default:
    /// `$XDG_DATA_HOME/tandem/files`, else `~/.local/share/tandem/files`.
    pub download_dir: Option<PathBuf>,
    /// The largest file fetched, in bytes, whatever the offer says.
    pub max_size: u64,
    /// Keep a copy of each received file in `download_dir`; false removes
    /// it once it is on the user's server.
    pub keep_files: bool,
    /// Offers waiting or under way, in all and per peer: a peer sending
    /// offers nobody answers cannot grow the table.
    pub max_offers: usize,
    pub max_offers_per_peer: usize,
    /// An offer nobody answers is forgotten after this.
    pub offer_ttl_seconds: u64,
    /// The most file bytes in one MSRP SEND (docs/decisions/0066).
    pub msrp_chunk_size: usize,
    /// An MSRP relay (RFC 4976) that direct transfers go through, e.g.
    /// `msrp://relay.example.org:2855;tcp` (`msrps://` for TLS); unset:
    /// peers connect directly (docs/decisions/0068).
    pub msrp_relay: Option<String>,
    /// The user name Tandem logs in to the relay with.
    pub msrp_relay_user: Option<String>,
    /// Its password: `msrp_relay_password_file` (or `_env`), which the
    /// host reads; never printed.
    pub msrp_relay_password: msrp::relay::Password,
    /// How the user's files are offered to SIP peers first: `rcs` (GSMA
    /// file-info, what Linphone reads) or `external-body` (RFC 4483); a
    /// peer answering 415 gets the other, then the link as text. `msrp`
    /// sends the file itself in a SIP session (RFC 5547), and a link (RCS
    /// first) to a peer that takes no such session.
    pub offer_as: Form,
    /// The address written in MSRP offers and answers; default: the one
    /// this machine reaches the peer from.
    pub msrp_address: Option<std::net::IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            download_dir: None,
            max_size: 100 * 1024 * 1024,
            keep_files: true,
            max_offers: 64,
            max_offers_per_peer: 4,
            offer_ttl_seconds: 3600,
            msrp_chunk_size: msrp::DEFAULT_CHUNK_SIZE,
            msrp_relay: None,
            msrp_relay_user: None,
            msrp_relay_password: msrp::relay::Password::default(),
            offer_as: Form::Rcs,
            msrp_address: None,
        }
    }
}

/// `$XDG_DATA_HOME/tandem/files`, else `$HOME/.local/share/tandem/files`.
fn default_download_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("tandem").join("files"))
}

pub struct FileTransferPlugin {
    ctx: Arc<Context>,
    offer_as: Form,
    /// Transfers the previous run left cut off, said at `host.ready`: by
    /// then every plugin is up, the XMPP one that tells the user too.
    lost: Mutex<Vec<Failed>>,
    unreadable: LogThrottle,
    refused: LogThrottle,
}

impl Plugin for FileTransferPlugin {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("file-transfer", env!("CARGO_PKG_VERSION"))
            .description("Files from SIP peers into your XMPP client: offers, accept or reject, HTTP download, XEP-0363 upload")
            .event(Message::TOPIC)
            .event(Answered::TOPIC)
            .event(Ended::TOPIC)
            .event(HOST_READY)
    }

    fn commands() -> Commands<Self> {
        Commands::new()
            .command::<Accept>("Fetch an offered file and share it with the user")
            .command::<Reject>("Turn a file offer down")
            .command::<List>("The file offers waiting and the transfers under way")
            .command::<Send>("Offer the user's uploaded file to SIP peers")
            .command::<Cancel>("Stop a file transfer under way, or turn an offer down")
            .command::<TakeSession>("Take a SIP session that offers a file (RFC 5547)")
    }

    async fn start(host: Host, config: Config) -> Result<Self, BoxError> {
        if config.max_offers == 0
            || config.max_offers_per_peer == 0
            || config.offer_ttl_seconds == 0
        {
            return Err("[plugins.file-transfer] max_offers, max_offers_per_peer and offer_ttl_seconds must be at least 1".into());
        }
        if !(1..=msrp::MAX_CHUNK_SIZE).contains(&config.msrp_chunk_size) {
            return Err(format!(
                "[plugins.file-transfer] msrp_chunk_size must be 1 to {} bytes",
                msrp::MAX_CHUNK_SIZE
            )
            .into());
        }
        let msrp_relay = msrp::relay::from_settings(
            config.msrp_relay.as_deref(),
            config.msrp_relay_user.as_deref(),
            &config.msrp_relay_password,
        )
        .map_err(|e| format!("[plugins.file-transfer] {e}"))?;
        let dir = config
            .download_dir
            .clone()
            .or_else(default_download_dir)
            .ok_or(
            "[plugins.file-transfer] download_dir is not set and neither is XDG_DATA_HOME or HOME",
        )?;
        let tls = tls::config().map_err(|e| format!("TLS settings: {e}"))?;
        let lost = interrupted::collect(&host, &dir);
        let offers = Arc::new(Mutex::new(Offers::new(
            config.max_offers,
            config.max_offers_per_peer,
            Duration::from_secs(config.offer_ttl_seconds),
        )));
        let ctx = Arc::new(Context {
            host,
            tls,
            dir,
            max_size: config.max_size,
            keep_files: config.keep_files,
            offers,
            chunk_size: config.msrp_chunk_size,
            msrp_address: config.msrp_address,
            sessions: Default::default(),
            msrp_relay,
            relay_chunk_said: Default::default(),
        });
        tandem_sdk::tokio::spawn(expire(ctx.clone()));

        Ok(FileTransferPlugin {
            ctx,
            offer_as: config.offer_as,
            lost: Mutex::new(lost),
            unreadable: LogThrottle::new(),
            refused: LogThrottle::new(),
        })
    }

    async fn on_event(&self, event: Event) -> Result<(), BoxError> {
        if event.topic() == HOST_READY {
            let lost = std::mem::take(&mut *self.lost.lock().unwrap_or_else(|e| e.into_inner()));
            for failed in lost {
                self.ctx.host.warn(&format!(
                    "{} from {} was cut off when Tandem stopped",
                    failed.name, failed.peer
                ));
                self.ctx.host.publish(&failed);
            }
            return Ok(());
        }
        if event.topic() == Answered::TOPIC {
            let answered: Answered = event.decode()?;
            let state = sessions::State::Answered(answered.sdp);
            self.ctx.sessions.update(&answered.session, state);
            return Ok(());
        }
        if event.topic() == Ended::TOPIC {
            let ended: Ended = event.decode()?;
            direct::take::ended(&self.ctx, &ended.session, &ended.reason);
            let state = sessions::State::Ended {
                reason: ended.reason,
                code: ended.code,
            };
            self.ctx.sessions.update(&ended.session, state);
            return Ok(());
        }
        if event.topic() != Message::TOPIC {
            return Ok(());
        }
        let message: Message = event.decode()?;
        let Some(form) = Form::of(&message.content_type) else {
            return Ok(());
        };
        self.offer(form, message);
        Ok(())
    }
}

impl FileTransferPlugin {
    fn offers(&self) -> std::sync::MutexGuard<'_, Offers> {
        self.ctx.offers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads, records and publishes one offer.
    fn offer(&self, form: Form, message: Message) {
        let host = &self.ctx.host;
        let parsed = match offer::parse(form, &message.content_type, &message.body) {
            Ok(parsed) => parsed,
            Err(e) => {
                if let Some(n) = self.unreadable.hit() {
                    host.warn(&format!(
                        "file offer from {} ignored: {e} ({n} so far)",
                        message.from
                    ));
                }
                host.publish(&Failed {
                    id: String::new(),
                    peer: message.from,
                    name: String::new(),
                    reason: e.to_string(),
                });
                return;
            }
        };
        let name = name::sanitise(parsed.name.as_deref().unwrap_or(""));
        let added = self
            .offers()
            .add(&message.from, name, parsed, Instant::now());
        let entry = match added {
            Ok(entry) => entry,
            Err(e) => {
                if let Some(n) = self.refused.hit() {
                    host.warn(&format!(
                        "file offer from {} dropped: {e} ({n} so far)",
                        message.from
                    ));
                }
                return;
            }
        };
        self.ctx
            .announce(&entry, message.display_name, message.vouched, None);
    }
}

impl Handler<Accept> for FileTransferPlugin {
    async fn handle(&self, Accept { id, thread }: Accept) -> Result<Transfer, CommandError> {
        let entry = self
            .offers()
            .answer(&id, TransferState::Downloading)
            .map_err(|e| CommandError::invalid_arguments(e.to_string()))?;
        let reply = entry.to_transfer();
        let id = entry.id.clone();
        let task = tandem_sdk::tokio::spawn(transfer::run(self.ctx.clone(), entry, thread));
        self.offers().set_abort(&id, task.abort_handle());
        Ok(reply)
    }
}

impl Handler<Reject> for FileTransferPlugin {
    async fn handle(&self, Reject { id }: Reject) -> Result<Transfer, CommandError> {
        let entry = {
            let mut offers = self.offers();
            let entry = offers
                .answer(&id, TransferState::Rejected)
                .map_err(|e| CommandError::invalid_arguments(e.to_string()))?;
            offers.remove(&id);
            entry
        };
        direct::take::decline(&self.ctx, &entry, direct::take::DECLINE);
        self.ctx.host.publish(&Closed {
            id: entry.id.clone(),
            peer: entry.peer.clone(),
            name: entry.name.clone(),
            reason: CloseReason::Rejected,
        });
        Ok(entry.to_transfer())
    }
}

impl Handler<Cancel> for FileTransferPlugin {
    async fn handle(&self, Cancel { id }: Cancel) -> Result<Transfer, CommandError> {
        let entry = {
            let mut offers = self.offers();
            let entry = offers.get(&id).ok_or_else(|| {
                CommandError::invalid_arguments(format!(
                    "there is no file transfer `{id}` (it may have ended)"
                ))
            })?;
            if entry.direction == Direction::Out && entry.stop.is_none() {
                return Err(CommandError::invalid_arguments(format!(
                    "{} is on its way to {} already: a SIP message cannot be called back",
                    entry.name, entry.peer
                )));
            }
            offers.remove(&id);
            entry
        };
        if let Some(stop) = &entry.stop {
            // A direct transfer stops as MSRP says (`#`, 413), then its
            // task ends the session and removes its part file.
            stop.send_replace(true);
        } else if let Some(abort) = &entry.abort {
            abort.abort();
        }
        if entry.state == TransferState::Offered {
            direct::take::decline(&self.ctx, &entry, direct::take::DECLINE);
        }
        // An aborted download leaves its part file: never half a file.
        let _ = tokio::fs::remove_file(http::download::part_path(&self.ctx.dir, &id)).await;
        interrupted::end(&self.ctx.dir, &id).await;
        self.ctx.host.info(&format!(
            "{} from {} cancelled ({})",
            entry.name,
            entry.peer,
            entry.state.as_str()
        ));
        self.ctx.host.publish(&Closed {
            id: entry.id.clone(),
            peer: entry.peer.clone(),
            name: entry.name.clone(),
            reason: CloseReason::Cancelled,
        });
        Ok(entry.to_transfer())
    }
}

impl Handler<TakeSession> for FileTransferPlugin {
    async fn handle(&self, args: TakeSession) -> Result<Taken, CommandError> {
        Ok(direct::take::take(
            &self.ctx,
            args,
            &self.unreadable,
            &self.refused,
        ))
    }
}

impl Handler<List> for FileTransferPlugin {
    async fn handle(&self, _: List) -> Result<Transfers, CommandError> {
        Ok(Transfers {
            transfers: self.offers().list(),
        })
    }
}

impl Handler<Send> for FileTransferPlugin {
    async fn handle(&self, args: Send) -> Result<Sent, CommandError> {
        if args.to.is_empty() {
            return Err(CommandError::invalid_arguments("send the file to whom?"));
        }
        let file = send::describe(&args, &self.ctx.tls).await?;
        Ok(send::start(&self.ctx, &args.to, file, self.offer_as))
    }
}

/// Every few seconds: offers nobody answered in time are forgotten.
async fn expire(ctx: Arc<Context>) {
    let mut every = tandem_sdk::tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        let gone = ctx
            .offers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expired(Instant::now());
        for entry in gone {
            direct::take::decline(&ctx, &entry, direct::take::NOBODY_ANSWERED);
            ctx.host.publish(&Closed {
                id: entry.id,
                peer: entry.peer,
                name: entry.name,
                reason: CloseReason::Expired,
            });
        }
    }
}

export_plugin!(FileTransferPlugin);

#[cfg(test)]
mod tests;
