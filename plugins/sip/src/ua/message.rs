//! `sip.send_message`: an RFC 3428 MESSAGE outside any dialog, with digest
//! authentication when the user's own SIP service asks for it (and only
//! then: see `password_scope.rs`).

use rsipstack::dialog::authenticate::{handle_client_authenticate, AuthRetry};
use rsipstack::sip::{typed, Header, Method, SipMessage, StatusCode};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;
use tandem_sdk::commands::sip::{MessageSent, SendMessage};
use tandem_sdk::{tokio, CommandError};

use crate::ua::agent::Agent;
use crate::uri::parse_target;

/// Larger bodies need a session (MSRP); RFC 3428 §7 caps MESSAGE.
const MAX_BODY: usize = 1300;

impl Agent {
    /// A request outside any dialog from us to `target` (a MESSAGE, a
    /// keep-alive OPTIONS), with its CSeq number; `None` when the stack
    /// has no address of ours to put in its Via.
    pub fn out_of_dialog(
        &self,
        method: Method,
        target: rsipstack::sip::Uri,
    ) -> Option<(rsipstack::sip::Request, u32)> {
        let via = self.endpoint.get_via(None, None).ok()?;
        let from = typed::From {
            display_name: self.config.display_name.clone(),
            uri: self.identity.clone(),
            params: vec![],
        }
        .with_tag(make_tag());
        let to = typed::To {
            display_name: None,
            uri: target.clone(),
            params: vec![],
        };
        let seq = self.dialogs.increment_last_seq();
        let request = self
            .endpoint
            .make_request(method, target, via, from, to, seq, None);
        Some((request, seq))
    }

    pub async fn send_message(&self, message: &SendMessage) -> Result<MessageSent, CommandError> {
        let invalid = |e: &dyn std::fmt::Display| CommandError::invalid_arguments(e.to_string());
        let failed = |e: &dyn std::fmt::Display| CommandError::rejected(e.to_string());
        let refused = |response: &rsipstack::sip::Response| {
            SendMessage::refused(&message.to, &response.status_code)
        };
        if message.body.len() > MAX_BODY {
            return Err(CommandError::invalid_arguments(format!(
                "the body is {} bytes; a SIP MESSAGE carries at most {MAX_BODY}",
                message.body.len()
            )));
        }
        let target = parse_target(&message.to).map_err(|e| invalid(&e))?;
        let credential = self.credential_for(&target);
        // A UDP port where nothing listens answers ICMP, which the
        // transaction never hears (it would end by Timer F, 32 s, long
        // after the command's caller gave up): a 503, RFC 3261 §8.1.3.1.
        let mut watch = self.watch(&target).await;
        let (mut request, mut seq) = self
            .out_of_dialog(Method::Message, target)
            .ok_or_else(|| failed(&"the SIP stack has no local address"))?;
        let content_type = message
            .content_type
            .clone()
            .unwrap_or_else(|| "text/plain;charset=utf-8".into());
        request
            .headers
            .push(Header::ContentType(content_type.into()));
        request.body = message.body.clone().into_bytes();
        let key = TransactionKey::from_request(&request, TransactionRole::Client)
            .map_err(|e| failed(&e))?;
        let mut tx = Transaction::new_client(key, request, self.endpoint.clone(), None);
        tx.send().await.map_err(|e| failed(&e))?;
        let mut auth = AuthRetry::new();
        loop {
            let reply = tokio::select! {
                reply = tx.receive() => reply,
                report = watch.refusal() => {
                    return Err(CommandError::rejected(format!(
                        "cannot reach {} over UDP: {}",
                        message.to,
                        report.reason()
                    )));
                }
            };
            let Some(reply) = reply else { break };
            let SipMessage::Response(response) = reply else {
                continue;
            };
            match response.status_code {
                ref code if code.kind() == rsipstack::sip::StatusCodeKind::Provisional => {}
                StatusCode::Unauthorized | StatusCode::ProxyAuthenticationRequired => {
                    match &credential {
                        Some(credential) if auth.should_answer(&response) => {
                            seq = self.dialogs.increment_last_seq().max(seq + 1);
                            tx = handle_client_authenticate(seq, &tx, response, credential)
                                .await
                                .map_err(|e| failed(&e))?;
                            tx.send().await.map_err(|e| failed(&e))?;
                        }
                        Some(_) => return Err(refused(&response)),
                        None => {
                            return Err(match self.withheld_password(&message.to) {
                                Some(why) => CommandError::rejected(why),
                                None => refused(&response),
                            })
                        }
                    }
                }
                ref code => {
                    let code = code.code();
                    if (200..300).contains(&code) {
                        return Ok(MessageSent { code });
                    }
                    return Err(refused(&response));
                }
            }
        }
        Err(CommandError::rejected(format!(
            "{} did not answer the MESSAGE",
            message.to
        )))
    }
}
