//! The commands that tell who a SIP peer is in XMPP terms: a contact's
//! published addresses, the caller index's verdict, and pre-authorised
//! roster links (XEP-0379) given and used.

use tandem_sdk::commands::xmpp::{
    AddContact, KnownReach, PeerIdentity, PreauthLink, PreauthOffer, ReachOf, WhoIs,
};
use tandem_sdk::serde_json::Value;
use tandem_sdk::{CommandError, Handler};

use crate::session::Request;
use crate::{convert, done, invalid, jid_arg, xep, XmppPlugin};

impl Handler<ReachOf> for XmppPlugin {
    async fn handle(&self, ReachOf { jid }: ReachOf) -> Result<KnownReach, CommandError> {
        let bare = jid_arg(&jid)?.to_bare();
        let mut known = self
            .ask(|reply| Request::ReachOf(bare.clone(), reply))
            .await?;
        if known.is_empty() {
            // No XEP-0152 addresses: the SIP URIs of their vCard.
            known = self.ask(|reply| Request::VcardSip(bare, reply)).await?;
        }
        Ok(KnownReach {
            addresses: known.iter().map(convert::reach_to_sdk).collect(),
        })
    }
}

impl Handler<WhoIs> for XmppPlugin {
    async fn handle(&self, request: WhoIs) -> Result<PeerIdentity, CommandError> {
        self.ask(|reply| Request::WhoIs(request, reply)).await
    }
}

impl Handler<PreauthOffer> for XmppPlugin {
    async fn handle(
        &self,
        PreauthOffer { peer, jid }: PreauthOffer,
    ) -> Result<PreauthLink, CommandError> {
        if peer.trim().is_empty() {
            return Err(invalid(
                "peer is empty: the SIP address the link is given to",
            ));
        }
        let jid = match jid {
            Some(jid) => Some(jid_arg(&jid)?.to_bare()),
            None => None,
        };
        let uri = self
            .ask(|reply| Request::PreauthOffer(peer, jid, reply))
            .await?;
        Ok(PreauthLink { uri })
    }
}

impl Handler<AddContact> for XmppPlugin {
    async fn handle(&self, AddContact { jid }: AddContact) -> Result<Value, CommandError> {
        let (jid, token) = match xep::preauth::parse_uri(&jid) {
            Some((jid, token)) => (jid, Some(token)),
            None => (jid_arg(&jid)?.to_bare(), None),
        };
        if jid.node().is_none() {
            return Err(invalid(format!("`{jid}` is a server, not a contact")));
        }
        self.tell(Request::AddContact(jid, token)).await?;
        Ok(done())
    }
}
