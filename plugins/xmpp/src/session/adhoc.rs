//! Ad-hoc commands (XEP-0050) on the sidecar resource, for the account's
//! owner only (checked in `iq`): the list, and running a command's handler
//! (a bus command) on a helper task. The plugin ships none: rules register
//! theirs with `xmpp.register_adhoc` (`scripts/status-commands.lua` serves
//! "Status", "Rules" and more). A command's form may come from a bus
//! command each time it is shown (`form`), so that a switch shows its
//! state.

use std::time::Instant;

use tandem_sdk::commands::xmpp::{AdhocForm, AdhocRun};
use tandem_sdk::Host;
use xmpp_parsers::disco::{DiscoItemsResult, Item as DiscoItem};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::state::{Registered, Request, Session};
use crate::peers::adhoc_sessions;
use crate::xep::adhoc;

impl Session {
    /// The commands served, for the owner's disco#items on the commands
    /// node.
    pub(super) fn adhoc_items(&self) -> DiscoItemsResult {
        let me = self
            .bound
            .clone()
            .unwrap_or_else(|| Jid::from(self.account.clone()));
        let items = self
            .adhoc
            .iter()
            .map(|(node, c)| DiscoItem {
                jid: me.clone(),
                node: Some(node.clone()),
                name: Some(c.name.clone()),
            })
            .collect();
        DiscoItemsResult {
            node: Some(adhoc::NS.to_owned()),
            items,
            rsm: None,
        }
    }

    /// The items of the sidecar itself (disco#items with no node): for
    /// the owner, the command list as one browsable item; nothing for
    /// anyone else.
    pub(super) fn browse_items(&self, owner: bool) -> DiscoItemsResult {
        let me = self
            .bound
            .clone()
            .unwrap_or_else(|| Jid::from(self.account.clone()));
        let items = if owner && self.adhoc.iter().next().is_some() {
            vec![DiscoItem {
                jid: me,
                node: Some(adhoc::NS.to_owned()),
                name: Some("Commands".to_owned()),
            }]
        } else {
            Vec::new()
        };
        DiscoItemsResult {
            node: None,
            items,
            rsm: None,
        }
    }

    /// Runs an ad-hoc command (the requester is the owner) on a helper task:
    /// the handler may call other plugins, even this one, so the session
    /// must keep serving meanwhile.
    ///
    /// A command without fields runs on the first request, with no
    /// session. One with fields opens a session (`adhoc_sessions`) and
    /// answers with the form; only a continuation of that session, by the
    /// same client, runs it. A sessionid is never taken on trust.
    pub(super) fn execute(
        &mut self,
        from: Option<Jid>,
        id: String,
        payload: &xmpp_parsers::minidom::Element,
    ) {
        let request = match adhoc::CommandRequest::from_element(payload) {
            Ok(r) => r,
            Err(e) => {
                return self.reply_error(from, id, DefinedCondition::BadRequest, &e.to_string())
            }
        };
        let Some(command) = self.adhoc.get(&request.node).cloned() else {
            return self.reply_error(from, id, DefinedCondition::ItemNotFound, "no such command");
        };
        let Some(requester) = from.clone() else {
            return; // the owner check let only the account's JIDs through
        };
        let now = Instant::now();
        let session_id = match &request.session_id {
            None if request.action == "cancel"
                || (command.fields.is_empty() && command.form.is_none()) =>
            {
                adhoc_sessions::new_id()
            }
            None => {
                // The first step: whatever it carries, the form comes first.
                let session_id = self.adhoc_sessions.open(&requester, &request.node, now);
                return self.ask(from, id, session_id, request.node, command);
            }
            Some(session_id) => {
                let checked = self
                    .adhoc_sessions
                    .check(session_id, &requester, &request.node, now);
                if let Err(e) = checked {
                    self.host.warn(&format!(
                        "ad-hoc {} from {requester} refused: {e}",
                        request.node
                    ));
                    let answer = Iq::from_error(id, e.to_stanza_error()).with_to(requester);
                    return self.reply_stanza(answer);
                }
                if request.action != "cancel" && request.submitted.is_none() {
                    // Asked again (`execute`, `next` without a form): the
                    // same form, the same session.
                    return self.ask(from, id, session_id.clone(), request.node, command);
                }
                self.adhoc_sessions.close(session_id);
                session_id.clone()
            }
        };
        let host = self.host.clone();
        let requests = self.requests.clone();
        let fields = request.submitted.clone().unwrap_or_default();
        let requester = requester.to_string();
        tokio::spawn(async move {
            let (note_type, note) = if request.action == "cancel" {
                ("info", "Cancelled.".to_owned())
            } else {
                let run = AdhocRun {
                    node: request.node.clone(),
                    from: requester,
                    fields,
                };
                match run_handler(&host, &command.handler, &run).await {
                    Ok(text) => ("info", text),
                    Err(e) => ("error", e),
                }
            };
            let done = adhoc::Completed {
                node: request.node,
                session_id,
                note_type,
                note,
            };
            let answer = Iq::Result {
                from: None,
                to: from,
                id,
                payload: Some(done.to_element()),
            };
            let _ = requests.send(Request::Send(Box::new(answer.into()))).await;
        });
    }
}

impl Session {
    /// Answers with the command's form: its fixed fields, or those its
    /// `form` command gives now (a switch's current state), asked on a
    /// helper task as the handler is. A form that cannot be had ends the
    /// command with a note saying so.
    fn ask(
        &mut self,
        from: Option<Jid>,
        id: String,
        session_id: String,
        node: String,
        command: Registered,
    ) {
        let Some(form) = command.form.clone() else {
            let asking = adhoc::Executing {
                session_id,
                node,
                title: command.name,
                fields: command.fields,
            };
            return self.reply(from, id, asking.to_element());
        };
        let host = self.host.clone();
        let requests = self.requests.clone();
        let run = AdhocRun {
            node: node.clone(),
            from: from.as_ref().map(|j| j.to_string()).unwrap_or_default(),
            fields: Default::default(),
        };
        tokio::spawn(async move {
            let payload = match ask_form(&host, &form, &run).await {
                Ok(fields) => adhoc::Executing {
                    session_id,
                    node,
                    title: command.name,
                    fields,
                }
                .to_element(),
                Err(note) => adhoc::Completed {
                    node,
                    session_id,
                    note_type: "error",
                    note,
                }
                .to_element(),
            };
            let answer = Iq::Result {
                from: None,
                to: from,
                id,
                payload: Some(payload),
            };
            let _ = requests.send(Request::Send(Box::new(answer.into()))).await;
        });
    }
}

/// The fields a command's `form` command gives now, or why not in words
/// for the person asking.
async fn ask_form(
    host: &Host,
    form: &str,
    run: &AdhocRun,
) -> Result<Vec<adhoc::FormField>, String> {
    let args = tandem_sdk::Payload::encode(run).map_err(|e| format!("{form}: {e}"))?;
    let answer = host
        .call_raw(form, args, tandem_sdk::DEFAULT_CALL_TIMEOUT)
        .await
        .and_then(|p| p.decode::<AdhocForm>().map_err(Into::into))
        .map_err(|e| {
            host.info(&format!("ad-hoc command's form {form}: {e}"));
            for_people(&e)
        })?;
    Ok(answer
        .fields
        .into_iter()
        .map(adhoc::FormField::from)
        .collect())
}

/// The text of an ad-hoc command's answer, or why it failed, in words for
/// the person who ran it: the handler's `text` ([`AdhocNote`]) or its whole
/// answer when it has none; a refusal's own message (the handler wrote it
/// for people); anything else as "Could not do that", with the bus names
/// and error kinds kept for the log.
async fn run_handler(host: &Host, handler: &str, run: &AdhocRun) -> Result<String, String> {
    let args = tandem_sdk::Payload::encode(run).map_err(|e| format!("{handler}: {e}"))?;
    let answer = host
        .call_raw(handler, args, tandem_sdk::DEFAULT_CALL_TIMEOUT)
        .await
        .and_then(|p| p.decode::<serde_json::Value>().map_err(Into::into))
        .map_err(|e| {
            host.info(&format!("ad-hoc command's handler {handler}: {e}"));
            for_people(&e)
        })?;
    Ok(answer["text"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| answer.to_string()))
}

/// A failed handler as a note: a refusal or a bad argument in its own
/// words, as a sentence; anything else without internal names.
fn for_people(e: &tandem_sdk::CommandError) -> String {
    use tandem_sdk::ErrorKind;
    match e.kind {
        ErrorKind::Rejected | ErrorKind::InvalidArguments => sentence(&e.message),
        ErrorKind::UnknownCommand => {
            "That command is not available: the rule that serves it is not loaded.".into()
        }
        _ => "Could not do that; the reason is in Tandem's log.".into(),
    }
}

/// `text` with a capital first letter and a closing full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return "Refused.".into();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sdk::{CommandError, ErrorKind};

    #[test]
    fn a_failed_command_reads_as_plain_words_without_internal_names() {
        let refused = CommandError::rejected("there is no ringing call");
        assert_eq!(for_people(&refused), "There is no ringing call.");
        let asked = CommandError::new(ErrorKind::InvalidArguments, "Call whom? Give a SIP URI");
        assert_eq!(for_people(&asked), "Call whom? Give a SIP URI.");
        let broken = CommandError::internal("calls.hangup: lua error at line 3");
        let note = for_people(&broken);
        assert!(!note.contains("calls.") && !note.contains("lua"), "{note}");
        let missing = CommandError::unknown_command("status.show");
        assert!(!for_people(&missing).contains("status.show"));
    }
}
