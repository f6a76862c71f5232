//! Our own addresses per transport and family, and the Via of a request
//! put in the family of where it goes (decision 0075).
//!
//! rsipstack writes the Via of every request from its first listener of
//! the transport (UDP: its only one, the dual-family door of `udp.rs`), so
//! with a dual-stack `listen` a request to an IPv6 peer said
//! `Via: SIP/2.0/UDP 127.0.0.1:5060`: the peer answers to an address it
//! may not reach, and our Via names a family the request did not come
//! from. [`OwnAddresses::via_for`] puts the request's own Via right on its
//! way out (the transaction is keyed by the branch, which stays; a CANCEL
//! or ACK built from the request passes here too and gets the same Via).

use std::net::{IpAddr, SocketAddr};

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::transport::Transport;
use rsipstack::sip::{HostWithPort, SipMessage};
use rsipstack::transport::SipAddr;

use super::route::Advertised;

/// One listening socket of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnAddress {
    pub transport: Transport,
    /// What the socket is bound to (a wildcard included).
    pub bound: SocketAddr,
    /// What rsipstack names it by (a wildcard's host address).
    pub advertised: SocketAddr,
}

impl OwnAddress {
    /// Our address for `peer` on this socket: the one bound, or for a
    /// wildcard the one whose route reaches the peer.
    pub fn toward(&self, peer: Option<IpAddr>) -> SocketAddr {
        let ip = Advertised::new(None, self.bound.ip()).toward(peer);
        SocketAddr::new(ip, self.advertised.port())
    }

    fn is_v6(&self) -> bool {
        self.bound.is_ipv6()
    }
}

/// Every listening socket of ours, UDP first (rsipstack's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAddresses(pub Vec<OwnAddress>);

impl OwnAddresses {
    /// The socket of `transport` for `peer`: the one of the peer's family
    /// when we listen on both, else the first of the transport.
    pub fn toward(&self, transport: Transport, peer: Option<IpAddr>) -> Option<&OwnAddress> {
        let mut of_transport = self.0.iter().filter(|a| a.transport == transport);
        let first = of_transport.clone().next();
        let v6 = peer.map(|p| p.to_canonical().is_ipv6());
        v6.and_then(|v6| of_transport.find(|a| a.is_v6() == v6))
            .or(first)
    }

    /// Whether both families are listened on for `transport`.
    fn dual(&self, transport: Transport) -> bool {
        let mut families = self.0.iter().filter(|a| a.transport == transport);
        let first = families.next().map(OwnAddress::is_v6);
        families.any(|a| Some(a.is_v6()) != first)
    }

    /// `message` with its top Via naming our socket of `dest`'s family,
    /// when it is a request of ours whose Via names our socket of the
    /// other family (with one family nothing changes). A destination
    /// still a name (rsipstack resolves it after this) is taken to be of
    /// the family of the request's own Contact, which the user agent chose
    /// toward the name's address (an INVITE, a REGISTER); without one the
    /// Via stays.
    pub fn via_for(&self, mut message: SipMessage, dest: Option<&SipAddr>) -> SipMessage {
        let SipMessage::Request(request) = &mut message else {
            return message;
        };
        let dest = dest.and_then(|d| d.get_socketaddr().ok()).or_else(|| {
            let contact = request.typed_contact_headers().ok()?.into_iter().next()?;
            let ip = crate::uri::host_ip(&contact.uri.host_with_port.host)?;
            Some(SocketAddr::new(ip, 0))
        });
        let Some(dest) = dest else {
            return message;
        };
        let Ok(via_header) = request.via_header_mut() else {
            return message;
        };
        let Ok(mut via) = via_header.typed() else {
            return message;
        };
        if !self.dual(via.transport) {
            return message;
        }
        let sent_by = &via.uri.host_with_port;
        let written = crate::uri::host_ip(&sent_by.host)
            .zip(sent_by.port.map(u16::from))
            .map(|(ip, port)| SocketAddr::new(ip, port));
        let ours = self
            .0
            .iter()
            .any(|a| a.transport == via.transport && Some(a.advertised) == written);
        let Some(own) = self.toward(via.transport, Some(dest.ip())) else {
            return message;
        };
        if !ours || written.is_some_and(|w: SocketAddr| w.is_ipv6() == own.is_v6()) {
            return message;
        }
        via.uri.host_with_port = HostWithPort::from(own.toward(Some(dest.ip())));
        via_header.update_first_value(|_| Ok(via.into())).ok();
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(transport: Transport, addr: &str) -> OwnAddress {
        let addr: SocketAddr = addr.parse().unwrap();
        OwnAddress {
            transport,
            bound: addr,
            advertised: addr,
        }
    }

    fn dual() -> OwnAddresses {
        OwnAddresses(vec![
            own(Transport::Udp, "127.0.0.1:5060"),
            own(Transport::Udp, "[::1]:5060"),
            own(Transport::Tcp, "127.0.0.1:5060"),
            own(Transport::Tcp, "[::1]:5060"),
        ])
    }

    fn request(via: &str) -> SipMessage {
        let text = format!(
            "OPTIONS sip:bob@[::1]:5070 SIP/2.0\r\nVia: {via}\r\n\
             From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@[::1]>\r\n\
             Call-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        SipMessage::try_from(text.as_str()).unwrap()
    }

    fn top_via(message: &SipMessage) -> String {
        let SipMessage::Request(request) = message else {
            panic!("not a request")
        };
        request.via_header().unwrap().value().to_owned()
    }

    fn to(addr: &str) -> SipAddr {
        SipAddr {
            r#type: Some(Transport::Udp),
            addr: addr.parse::<SocketAddr>().unwrap().into(),
        }
    }

    #[test]
    fn each_peer_is_answered_by_the_socket_of_its_family() {
        let own = dual();
        let v6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let found = |peer| own.toward(Transport::Udp, peer).unwrap().bound;
        assert_eq!(found(Some(v6)), "[::1]:5060".parse().unwrap());
        assert_eq!(found(Some(mapped)), "127.0.0.1:5060".parse().unwrap());
        assert_eq!(found(None), "127.0.0.1:5060".parse().unwrap());
        assert!(own.toward(Transport::Tls, None).is_none());
    }

    #[test]
    fn a_request_to_ipv6_says_our_ipv6_address_in_its_via_and_keeps_its_branch() {
        let sent = dual().via_for(
            request("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport"),
            Some(&to("[::1]:5070")),
        );
        let via = top_via(&sent);
        assert!(via.starts_with("SIP/2.0/UDP [::1]:5060;"), "{via}");
        assert!(via.contains("branch=z9hG4bKabc"), "{via}");
        // Toward IPv4 it stays as rsipstack wrote it.
        let kept = dual().via_for(
            request("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport"),
            Some(&to("127.0.0.1:5070")),
        );
        assert!(top_via(&kept).starts_with("SIP/2.0/UDP 127.0.0.1:5060;"));
    }

    #[test]
    fn a_request_to_a_name_follows_its_contact() {
        let text = "INVITE sip:bob@example.org SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK2\r\n\
             From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@example.org>\r\n\
             Call-ID: y\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@[::1]:5060>\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let name = SipAddr {
            r#type: Some(Transport::Udp),
            addr: "example.org:5060".try_into().unwrap(),
        };
        let message = SipMessage::try_from(text).unwrap();
        let sent = dual().via_for(message, Some(&name));
        assert!(top_via(&sent).starts_with("SIP/2.0/UDP [::1]:5060;"));
        // No Contact, no address: as rsipstack wrote it.
        let sent = dual().via_for(
            request("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK3"),
            Some(&name),
        );
        assert!(top_via(&sent).starts_with("SIP/2.0/UDP 127.0.0.1:5060;"));
    }

    #[test]
    fn one_family_or_a_via_not_ours_is_left_alone() {
        let single = OwnAddresses(vec![own(Transport::Udp, "127.0.0.1:5060")]);
        let via = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1";
        let sent = single.via_for(request(via), Some(&to("[::1]:5070")));
        assert_eq!(top_via(&sent), via);
        let foreign = "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK1";
        let sent = dual().via_for(request(foreign), Some(&to("[::1]:5070")));
        assert_eq!(top_via(&sent), foreign);
    }
}
