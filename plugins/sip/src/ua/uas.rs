//! What a new request outside a dialog gets before it is served, the
//! same for calls, sessions that are not calls and MESSAGE: who sent it,
//! a final answer (a refusal seen through to its end), the dialog a new
//! INVITE opens.

use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::headers::ToTypedHeader;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;

use super::completion::Completions;
use crate::guard::origin::Origin;
use crate::ua::agent::Agent;

/// A final or provisional answer to `tx`; a failure to send it is only
/// logged (the peer retransmits, or gives up).
pub async fn reply(tx: &mut Transaction, code: StatusCode, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(code.clone(), headers, None).await {
        log::debug!("could not answer {} with {code}: {e}", tx.original.method);
    }
}

/// Answers a request with a final `code` it will get no dialog for, and,
/// for an INVITE, sees its transaction through to the ACK or Timer H
/// (`completion.rs`: rsipstack retransmits the answer only while someone
/// reads the transaction). Returns when the transaction has ended.
pub async fn refuse(agent: &Agent, mut tx: Transaction, code: StatusCode, headers: Vec<Header>) {
    reply(&mut tx, code, headers).await;
    if Completions::needs_driving(&tx) {
        agent.completions.drive(tx, &agent.cancel).await;
    }
}

/// Who sent `request`: the From URI without parameters, and the display
/// name when there is one.
pub fn caller(request: &rsipstack::sip::Request) -> (String, Option<String>) {
    match request.from_header() {
        Ok(from) => match from.typed() {
            Ok(from) => (
                without_params(&from.uri),
                from.display_name.clone().filter(|d| !d.is_empty()),
            ),
            Err(_) => (from.value().to_string(), None),
        },
        Err(_) => (String::new(), None),
    }
}

/// The request's SIP Call-ID ("" without one), by which dialog events
/// find their call or session.
pub fn sip_call_id(request: &rsipstack::sip::Request) -> String {
    request
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

/// The dialog a new INVITE opens, with our Contact toward its source
/// (calls and sessions both).
pub fn server_dialog(
    agent: &Agent,
    tx: &Transaction,
    origin: &Origin,
) -> Result<InviteDialog, Box<rsipstack::Error>> {
    agent
        .dialogs
        .get_or_create_server_invite(
            tx,
            agent.states.clone(),
            None,
            Some(agent.contact_toward(
                tx.connection.as_ref().and_then(|c| c.get_addr().r#type),
                Some(origin.addr.ip()),
            )),
        )
        .map_err(Box::new)
}

/// Rings: the INVITE's transaction is handed to its dialog (which
/// answers the CANCEL and takes the ACK) and 180 Ringing goes out.
pub fn ring(dialog: &InviteDialog, mut tx: Transaction) {
    let mut handler = dialog.clone();
    tandem_sdk::tokio::spawn(async move {
        if let Err(e) = handler.handle(&mut tx).await {
            log::debug!("INVITE transaction: {e}");
        }
    });
    if let Err(e) = dialog.ringing(None, None) {
        log::debug!("180 Ringing not sent: {e}");
    }
}

/// `sip:bob@host:port` without URI parameters, for events and logs.
pub fn without_params(uri: &rsipstack::sip::Uri) -> String {
    let mut uri = uri.clone();
    uri.params.clear();
    uri.headers.clear();
    uri.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_uri_drops_parameters() {
        let uri = rsipstack::sip::Uri::try_from("sip:bob@127.0.0.1:5070;transport=udp").unwrap();
        assert_eq!(without_params(&uri), "sip:bob@127.0.0.1:5070");
    }
}
