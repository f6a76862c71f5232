//! The commands about calls on the XMPP side: XEP-0482 call invites sent
//! or answered, and XEP-0353 proposals declined.

use tandem_sdk::commands::xmpp::{DeclineCall, SendCallInvite};
use tandem_sdk::serde_json::{json, Value};
use tandem_sdk::{CommandError, ErrorKind, Handler};

use crate::session::{self, Request};
use crate::{invalid, jid_arg, xep, XmppPlugin};

impl Handler<SendCallInvite> for XmppPlugin {
    async fn handle(&self, request: SendCallInvite) -> Result<Value, CommandError> {
        use xep::call_invite::CallInvite;
        let to = jid_arg(&request.to)?;
        let invite = if request.action == tandem_sdk::events::xmpp::InviteAction::Invite {
            if request.uris.is_empty() {
                return Err(invalid("uris: how to join the call (e.g. a sip: URI)"));
            }
            CallInvite::Invite {
                audio: true,
                video: false,
                external: request.uris.clone(),
                jingle: None,
            }
        } else {
            let id = request
                .id
                .clone()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| invalid("id: which invite is answered?"))?;
            let action = request.action.as_str();
            CallInvite::answer(action, id, request.uris.first().cloned()).ok_or_else(|| {
                invalid(format!(
                    "action must be invite, accept, reject, retract or left, not `{action}`"
                ))
            })?
        };
        // An invite's message id is the invite's; an answer's is its own.
        let (message_id, id) = match invite.answered() {
            None => {
                let id = session::fresh_id();
                (id.clone(), id)
            }
            Some(id) => (format!("{id}-{}", invite.action()), id.to_owned()),
        };
        self.tell(Request::SendCallInvite {
            to,
            id: message_id,
            invite,
            body: request.body,
            thread: request.thread,
        })
        .await?;
        Ok(json!({ "id": id }))
    }
}

impl Handler<DeclineCall> for XmppPlugin {
    async fn handle(&self, request: DeclineCall) -> Result<Value, CommandError> {
        if request.session.is_empty() {
            return Err(invalid(
                "session: which call (an xmpp.call.proposed event's)?",
            ));
        }
        let condition = request.reason.unwrap_or_else(|| "busy".to_owned());
        self.ask(|reply| Request::DeclineCall {
            id: request.session,
            condition,
            text: request.text,
            reply,
        })
        .await?
        .map_err(|e| CommandError::new(ErrorKind::Rejected, e))?;
        Ok(json!({ "declined": true }))
    }
}
