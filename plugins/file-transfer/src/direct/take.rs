//! A peer's SIP session offering a file (`sip.take_session`, RFC 5547
//! push): read its SDP, and list it in the one table of offers, so the
//! user (or `accept-files.lua`) is asked exactly as for a file offered
//! by link, with the same bounds. Answering it is `receive`'s (accept)
//! or [`decline`]'s (reject, expiry, cancel before accepting).

use std::time::Instant;

use tandem_sdk::commands::file_transfer::TransferState;
use tandem_sdk::commands::sip_session::{Reject, TakeSession, Taken};
use tandem_sdk::events::file_transfer::Failed;
use tandem_sdk::events::sip::EndReason;
use tandem_sdk::util::LogThrottle;

use crate::context::Context;
use crate::msrp::sdp::{Direction, FileStream, SdpError};
use crate::offer::{Form, Offer, SessionOffer, Source};
use crate::offers::Entry;

/// Refused: the session is not a file offer Tandem can read (RFC 5547
/// §8: 488 for an offer whose stream cannot be taken).
const NOT_ACCEPTABLE: u16 = 488;
/// Refused: this peer (or everybody) has too many offers open already.
const BUSY: u16 = 486;
/// Answered after asking: the user said no (RFC 5547 §8).
pub const DECLINE: u16 = 603;
/// Answered when nobody answered the offer in time.
pub const NOBODY_ANSWERED: u16 = 480;

/// Takes (or refuses at once) the session `args` offers.
pub fn take(
    ctx: &Context,
    args: TakeSession,
    unreadable: &LogThrottle,
    refused: &LogThrottle,
) -> Taken {
    let host = &ctx.host;
    let refuse = |code| Taken { refuse: Some(code) };
    let stream = match FileStream::parse(&args.sdp) {
        Ok(stream) if stream.direction == Direction::SendOnly => stream,
        Ok(_) => {
            // RFC 5547 file requests (the peer pulling a file from us) and
            // MSRP chat sessions are not offers of a file.
            host.info(&format!(
                "session from {} refused: not a file sent to us",
                args.peer
            ));
            return refuse(NOT_ACCEPTABLE);
        }
        Err(e @ (SdpError::NoMsrp | SdpError::NotOnlyAFile | SdpError::NoFile)) => {
            host.info(&format!("session from {} refused: {e}", args.peer));
            return refuse(NOT_ACCEPTABLE);
        }
        Err(e) => {
            if let Some(n) = unreadable.hit() {
                host.warn(&format!(
                    "file offer from {} ignored: {e} ({n} so far)",
                    args.peer
                ));
            }
            host.publish(&Failed {
                id: String::new(),
                peer: args.peer,
                name: String::new(),
                reason: format!("the offer could not be read: {e}"),
            });
            return refuse(NOT_ACCEPTABLE);
        }
    };
    let selector = &stream.selector;
    let offer = Offer {
        form: Form::Msrp,
        name: selector.name.clone(),
        size: selector.size,
        media_type: selector
            .media_type
            .as_deref()
            .and_then(crate::offer::clean_media_type),
        source: Source::Session(Box::new(SessionOffer {
            session: args.session.clone(),
            stream: stream.clone(),
        })),
    };
    let name = crate::name::sanitise(selector.name.as_deref().unwrap_or(""));
    let added = ctx.offers().add(&args.peer, name, offer, Instant::now());
    let entry = match added {
        Ok(entry) => entry,
        Err(e) => {
            if let Some(n) = refused.hit() {
                host.warn(&format!(
                    "file offer from {} refused: {e} ({n} so far)",
                    args.peer
                ));
            }
            return refuse(BUSY);
        }
    };
    ctx.announce(&entry, args.display_name, args.vouched, args.call);
    Taken { refuse: None }
}

/// Turns down `entry`'s session with `code`, if it came in one: the
/// peer hears no rather than waiting. In the background: the callers are
/// command handlers and the expiry loop, which the SIP plugin's answer
/// should not hold up.
pub fn decline(ctx: &Context, entry: &Entry, code: u16) {
    let Source::Session(offer) = &entry.offer.source else {
        return;
    };
    let (host, session) = (ctx.host.clone(), offer.session.clone());
    tandem_sdk::tokio::spawn(async move {
        let _ = host
            .call(&Reject {
                session,
                code: Some(code),
            })
            .await;
    });
}

/// `session` ended. An offer still waiting for an answer is gone (the
/// user is told why); a transfer under way learns it from
/// [`crate::sessions`].
pub fn ended(ctx: &Context, session: &str, reason: &EndReason) {
    let entry = {
        let mut offers = ctx.offers();
        match offers.of_session(session) {
            Some(e) if e.state == TransferState::Offered => offers.remove(&e.id),
            _ => None,
        }
    };
    let Some(entry) = entry else { return };
    let why = if *reason == EndReason::Cancelled {
        "the sender withdrew the offer"
    } else {
        // The SIP plugin gave up waiting (`missed`), or the network did.
        "the offer timed out before it was answered"
    };
    ctx.host.info(&format!(
        "offer of {} from {} gone: {why} ({})",
        entry.name, entry.peer, entry.id
    ));
    ctx.host.publish(&Failed {
        id: entry.id,
        peer: entry.peer,
        name: entry.name,
        reason: why.into(),
    });
}
