//! Presence: the sidecar's own (sent with its caps and reachability
//! addresses), the user's other clients' and contacts' (tracked and
//! published as events).

use tandem_sdk::commands::xmpp::{Presence, Status};
use tandem_sdk::events::xmpp::{ContactPresence, OwnPresence};
use tokio::sync::oneshot;
use tokio_xmpp::Stanza;
use xmpp_parsers::presence::{self as xp, Type as PresenceType};

use super::caps::caps_of;
use super::state::{Role, Session};
use crate::convert;
use crate::xep::{caps as features, reach};

impl Session {
    /// Answers the new presence and the one it replaced.
    pub(super) async fn set_presence(
        &mut self,
        presence: Presence,
        reply: oneshot::Sender<(Presence, Presence)>,
    ) {
        let previous = std::mem::replace(&mut self.presence, presence);
        let stanza = self.presence_stanza();
        self.send(stanza).await;
        // Also marks when it left Tandem, for the call_presence
        // benchmark's split of the delay.
        self.host.info(&format!(
            "presence sent: {} (priority {})",
            self.presence.show.as_deref().unwrap_or("available"),
            self.presence.priority.unwrap_or(-1)
        ));
        let _ = reply.send((self.presence.clone(), previous));
    }

    /// What contacts are shown: the presence asked for, except that while
    /// none of the user's clients is online the sidecar's default presence
    /// becomes `alone_show`/`alone_status`. Contacts' clients show the
    /// top resource whatever its priority, so the sidecar alone at −1
    /// would otherwise make the user look available for chat (issue 23).
    pub(super) fn shown_presence(&self) -> Presence {
        let default = self.presence.show.is_none() && self.presence.status.is_none();
        let alone = matches!(self.role, Role::Sidecar { .. }) && self.own.is_empty();
        if default && alone && !self.config.alone_show.is_empty() {
            return Presence {
                show: Some(self.config.alone_show.clone()),
                status: Some(self.config.alone_status.clone()).filter(|s| !s.is_empty()),
                priority: self.presence.priority,
            };
        }
        self.presence.clone()
    }

    pub(super) fn presence_stanza(&self) -> Stanza {
        let shown = self.shown_presence();
        let mut p = xp::Presence::available().with_priority(shown.priority.unwrap_or(-1));
        // Checked when the command arrived (`alone_show` at start).
        p.show = convert::show_from_name(shown.show.as_deref()).unwrap_or(None);
        if let Some(status) = &shown.status {
            p.set_status("", status.clone());
        }
        p.add_payload(features::caps(&self.name));
        if !self.reach.is_empty() {
            // XEP-0152 §4.2: also in presence, for contacts without PEP.
            p.payloads.push(reach::to_element(&self.reach));
        }
        p.into()
    }

    /// Tracks a presence; returns the full JID of one of the user's own
    /// clients that is available.
    pub(super) fn on_presence(&mut self, p: xp::Presence) -> Option<String> {
        // The bridge contact reports nobody's presence: the sidecar does.
        if let super::state::Role::Bridge { .. } = self.role {
            return None;
        }
        let from = p.from.clone()?;
        if Some(&from) == self.bound.as_ref() || from.resource().is_none() {
            return None; // our own echo, or a bare-JID presence (errors, probes)
        }
        let key = from.to_string();
        let presence = match p.type_ {
            PresenceType::None => Some(convert::from_stanza(&p)),
            PresenceType::Unavailable => None,
            _ => return None, // subscriptions, probes, errors: not presence changes
        };
        if from.to_bare() == self.account {
            match &presence {
                Some(p) => self.own.insert(key.clone(), p.clone()),
                None => self.own.remove(&key),
            };
            if presence.is_none() {
                self.calls_device_gone(&key);
            }
            let available = presence.is_some().then(|| key.clone());
            self.host.publish(&OwnPresence { jid: key, presence });
            return available;
        }
        // Anyone may send directed presence: only roster contacts'
        // resources are remembered (and asked what their client does).
        let admitted = self.contacts.admits(&from);
        // XEP-0152 §4.2: reachability addresses may ride on presence too.
        let reach = match p.payloads.iter().find(|e| e.is("reach", reach::NS)) {
            Some(element) => {
                let addresses = reach::from_element(element);
                let carried = addresses.as_deref().unwrap_or_default();
                let carried = carried.iter().map(convert::reach_to_sdk).collect();
                self.on_reach(from.to_bare(), addresses);
                carried
            }
            None => Vec::new(),
        };
        let features = match presence {
            Some(_) if admitted => self.features_of(&from, &p),
            Some(_) => self
                .caps
                .features(caps_of(&p).as_ref())
                .map(|f| f.to_vec())
                .unwrap_or_default(),
            None => {
                self.caps.gone(&key);
                Vec::new()
            }
        };
        let event = ContactPresence {
            jid: key,
            presence,
            reach,
            features,
        };
        self.contacts.presence(&event);
        self.host.publish(&event);
        None
    }

    pub(super) fn status(&self) -> Status {
        let holding = self.gate.holding().filter(|_| self.bound.is_none());
        Status {
            state: match (&self.bound, &holding) {
                (Some(_), _) => "online",
                (None, Some(_)) => "auth_failed",
                (None, None) => "connecting",
            }
            .to_owned(),
            reason: holding
                .map(|h| h.reason)
                .or_else(|| self.gate.failure().filter(|_| self.bound.is_none())),
            jid: self.bound.as_ref().map(|j| j.to_string()),
            own_resources: self.own.keys().cloned().collect(),
            contacts_online: self.contacts.online(),
            connects: self.connects,
            certificate_sha256: self.gate.certificate(),
            bridge: None,
        }
    }
}
