//! `sip.session.offer`: an INVITE carrying another plugin's SDP (an MSRP
//! file offer), sent the way a call's is (`outgoing.rs`: From, Contact,
//! the callee's transport, the password for the user's own service only)
//! and answered at once with the session id. The 200 OK is ACKed and
//! becomes `sip.session.answered` (`session_control.rs`); a refusal or a
//! failure `sip.session.ended`.

use std::sync::Arc;

use tandem_sdk::commands::sip_session::SessionRef;
use tandem_sdk::events::sip::Direction;
use tandem_sdk::{tokio, CommandError};

use crate::ua::agent::Agent;
use crate::ua::calls::new_call_id;
use crate::ua::outgoing::{invite_failure, Invitation};
use crate::ua::sessions::Session;
use crate::uri::parse_target;

impl Agent {
    pub async fn offer_session(
        self: &Arc<Self>,
        to: &str,
        sdp: &str,
    ) -> Result<SessionRef, CommandError> {
        if sdp.trim().is_empty() {
            return Err(CommandError::invalid_arguments(
                "a session offer needs its SDP",
            ));
        }
        let callee =
            parse_target(to).map_err(|e| CommandError::invalid_arguments(e.to_string()))?;
        let destination = self.reach(&callee).await?;
        let toward = destination.map(|d| d.ip());
        let id = new_call_id();
        let sip_call_id = format!("{}@tandem", new_call_id());
        let headers = self.invite_headers(&new_call_id(), None);
        let Invitation {
            option,
            peer,
            withheld,
        } = self.invitation(
            self.identity.clone(),
            &callee,
            toward,
            sdp.as_bytes().to_vec(),
            headers,
            &sip_call_id,
        );
        // Registered before the INVITE leaves, so no dialog event is missed.
        self.sessions().insert(Session::new(
            id.clone(),
            peer.clone(),
            Direction::Outgoing,
            sip_call_id,
        ));
        let (dialog, result) = match self.dialogs.do_invite_async(option, self.states.clone()) {
            Ok(started) => started,
            Err(e) => {
                self.sessions().remove(&id);
                return Err(CommandError::rejected(format!(
                    "cannot offer a session to {peer}: {e}"
                )));
            }
        };
        if let Some(session) = self.sessions().get_mut(&id) {
            session.dialog = Some(dialog);
        }
        log::info!("offering a session to {peer} (session {id})");
        let agent = self.clone();
        let session = id.clone();
        tokio::spawn(async move {
            let outcome = result.await;
            let what = format!("session {session}");
            if let Some(ended) = invite_failure(&what, outcome, withheld.as_deref()) {
                agent.end_session(&session, ended);
            }
        });
        Ok(SessionRef::new(id))
    }
}
