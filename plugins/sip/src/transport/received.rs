//! The `received` parameter as RFC 3261 writes it for an IPv6 sender.
//!
//! RFC 3261 §25.1: `via-received = "received" EQUAL (IPv4address /
//! IPv6address)`: an IPv6 address without brackets. rsipstack 0.7.14
//! notes an IPv6 sender as `received=[[::1]]` when a datagram comes in
//! (the address it formats is bracketed already, and it brackets it
//! again), and its own parser cannot read that back, so the answer went to the Via's
//! host rather than to the sender: an IPv6 peer over UDP whose Via names
//! another host (a NAT's inside address, or each RFC 4475 message) got no
//! answer at all. Taking the brackets off as the request enters the stack
//! (`unbracket`) gives both the RFC's form and the address the answer must
//! go to.

use rsipstack::sip::{Header, SipMessage};

/// `msg` with its topmost Via's `received=[addr]` written `received=addr`.
pub fn unbracket(mut msg: SipMessage) -> SipMessage {
    if let SipMessage::Request(request) = &mut msg {
        if let Some(Header::Via(via)) = request
            .headers
            .iter_mut()
            .find(|h| matches!(h, Header::Via(_)))
        {
            if let Some(fixed) = unbracketed(via.value()) {
                via.replace(fixed);
            }
        }
    }
    msg
}

/// The Via value with the brackets taken out of its first `received`, if
/// it has any. Only the first Via value (before any comma) is the sender's.
fn unbracketed(value: &str) -> Option<String> {
    let first = value.find(',').unwrap_or(value.len());
    let start = value[..first].to_ascii_lowercase().find(";received=")? + ";received=".len();
    let end = start + value[start..first].find(';').unwrap_or(first - start);
    let address = &value[start..end];
    if !address.contains(['[', ']']) {
        return None;
    }
    let bare: String = address
        .chars()
        .filter(|c| !matches!(c, '[' | ']'))
        .collect();
    Some(format!("{}{bare}{}", &value[..start], &value[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_received_loses_its_brackets_and_nothing_else_changes() {
        assert_eq!(
            unbracketed("SIP/2.0/UDP example.com:5060;branch=z9hG4bK1;received=[::1];rport=5070")
                .as_deref(),
            Some("SIP/2.0/UDP example.com:5060;branch=z9hG4bK1;received=::1;rport=5070")
        );
        assert_eq!(
            unbracketed("SIP/2.0/UDP [2001:db8::9]:5060;RECEIVED=[2001:db8::1], SIP/2.0/UDP p;received=[::2]")
                .as_deref(),
            Some("SIP/2.0/UDP [2001:db8::9]:5060;RECEIVED=2001:db8::1, SIP/2.0/UDP p;received=[::2]")
        );
        assert_eq!(
            unbracketed("SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1;received=[[::1]];rport=5070")
                .as_deref(),
            Some("SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1;received=::1;rport=5070")
        );
        assert_eq!(unbracketed("SIP/2.0/UDP 10.0.0.1;received=10.0.0.2"), None);
        assert_eq!(
            unbracketed("SIP/2.0/UDP a, SIP/2.0/UDP b;received=[::1]"),
            None
        );
    }

    /// What rsipstack itself writes for an IPv6 sender, read back as the
    /// address the answer goes to: the sender's, not the Via's host.
    #[test]
    fn the_stacks_own_received_reads_back_as_the_sender() {
        use rsipstack::sip::transport::Transport;
        use rsipstack::sip::HeadersExt;
        use rsipstack::transport::connection::SipConnection;
        let raw = "OPTIONS sip:a@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n\
            To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\n\
            Call-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let sender: std::net::SocketAddr = "[::1]:5070".parse().unwrap();
        let msg = SipMessage::try_from(raw).unwrap();
        let msg = SipConnection::update_msg_received(msg, sender, Transport::Udp).unwrap();
        let SipMessage::Request(request) = unbracket(msg) else {
            unreachable!()
        };
        let (_, target) =
            SipConnection::parse_target_from_via(request.via_header().unwrap()).unwrap();
        assert_eq!(std::net::SocketAddr::try_from(target).unwrap(), sender);
    }
}
