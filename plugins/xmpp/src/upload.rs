//! `xmpp.upload_slot`: a XEP-0363 slot from the user's server, found by
//! disco (the server itself or one of its items) and asked for through
//! the sidecar's session, several IQs in a row.

use tandem_sdk::commands::xmpp::{Slot, UploadSlot};
use tandem_sdk::{CommandError, ErrorKind, Handler};
use tokio_xmpp::IqRequest;
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsQuery, DiscoItemsResult};
use xmpp_parsers::http_upload::{SlotRequest, SlotResult};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

use crate::session::Request;
use crate::xep::http_upload;
use crate::{invalid, XmppPlugin};

fn rejected(why: String) -> CommandError {
    CommandError::new(ErrorKind::Rejected, why)
}

impl Handler<UploadSlot> for XmppPlugin {
    async fn handle(&self, request: UploadSlot) -> Result<Slot, CommandError> {
        if request.filename.trim().is_empty() || request.size == 0 {
            return Err(invalid("filename and size (in bytes, not 0) are required"));
        }
        let (service, limit) = self.upload_service().await?.ok_or_else(|| {
            rejected("your XMPP server offers no file upload (XEP-0363)".to_owned())
        })?;
        if let Some(limit) = limit.filter(|limit| request.size > *limit) {
            return Err(rejected(format!(
                "{} is {} bytes; your XMPP server takes files up to {limit} bytes",
                request.filename, request.size
            )));
        }
        let ask = SlotRequest {
            filename: request.filename.clone(),
            size: request.size,
            content_type: request.content_type,
        };
        let answer = self
            .iq(service, IqRequest::Get(ask.into()))
            .await?
            .map_err(|why| rejected(format!("no upload slot for {}: {why}", request.filename)))?;
        let slot = SlotResult::try_from(answer)
            .map_err(|e| rejected(format!("the server's upload slot is malformed: {e}")))?;
        Ok(http_upload::slot(slot))
    }
}

impl XmppPlugin {
    /// Asks an IQ through the sidecar's session: the answer's payload, or
    /// why there is none.
    async fn iq(
        &self,
        to: Jid,
        request: IqRequest,
    ) -> Result<Result<Element, String>, CommandError> {
        self.ask(|reply| Request::Iq { to, request, reply }).await
    }

    /// The server's upload service (XEP-0363 §2: the server itself or one
    /// of its items) and its size limit; None when it has none. Asked
    /// anew each time: uploads are rare, and a server's services change.
    async fn upload_service(&self) -> Result<Option<(Jid, Option<u64>)>, CommandError> {
        let domain = Jid::from(self.account.domain().to_owned());
        let info_of = |jid: Jid| async move {
            let query = DiscoInfoQuery { node: None };
            let info = self.iq(jid, IqRequest::Get(query.into())).await?.ok();
            Ok::<_, CommandError>(
                info.and_then(|e| DiscoInfoResult::try_from(e).ok())
                    .and_then(|info| http_upload::service_limit(&info)),
            )
        };
        if let Some(limit) = info_of(domain.clone()).await? {
            return Ok(Some((domain, limit)));
        }
        let query = DiscoItemsQuery {
            node: None,
            rsm: None,
        };
        let items = match self.iq(domain, IqRequest::Get(query.into())).await? {
            Ok(items) => DiscoItemsResult::try_from(items)
                .map(|r| r.items)
                .unwrap_or_default(),
            Err(why) => {
                return Err(rejected(format!(
                    "could not ask your XMPP server for its services: {why}"
                )))
            }
        };
        for item in items.into_iter().filter(|i| i.node.is_none()) {
            if let Some(limit) = info_of(item.jid.clone()).await? {
                return Ok(Some((item.jid, limit)));
            }
        }
        Ok(None)
    }
}
