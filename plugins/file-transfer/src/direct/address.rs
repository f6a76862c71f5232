//! Which of this machine's addresses goes in our `a=path` and `c=`: the
//! one configured (`msrp_address`), else the one the system routes
//! toward the peer from (a UDP socket "connected" to it sends nothing;
//! its local address is the answer). The SIP plugin knows its own address
//! but the seam carries only SDP, and the route to the peer is what the
//! peer can reach back in the common case (one interface, or loopback).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::DirectError;

/// Our address as the peer at `host` (a name or an IP, IPv6 maybe in
/// brackets) would reach it.
pub async fn toward(configured: Option<IpAddr>, host: &str) -> Result<IpAddr, DirectError> {
    if let Some(ip) = configured {
        return Ok(ip);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let fail = |detail: String| DirectError::Address {
        host: bare.to_owned(),
        detail,
    };
    let target = tokio::net::lookup_host((bare, 9))
        .await
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("it has no address".into()))?;
    let any = if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let socket = tokio::net::UdpSocket::bind((any, 0))
        .await
        .map_err(|e| fail(e.to_string()))?;
    socket
        .connect(target)
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(socket.local_addr().map_err(|e| fail(e.to_string()))?.ip())
}

/// The host of a SIP URI (`sip:bob@host:5060;transport=tcp`, maybe in
/// `<…>`), to find the route toward it.
pub fn sip_host(uri: &str) -> Option<&str> {
    let uri = uri.trim().trim_start_matches('<');
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    let end = rest.find([':', ';', '>', '?']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|h| !h.is_empty())
}

/// `ip` as the host part of an MSRP URI (IPv6 in brackets).
pub fn uri_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_a_sip_uri() {
        assert_eq!(sip_host("sip:bob@127.0.0.1:5062"), Some("127.0.0.1"));
        assert_eq!(
            sip_host("<sips:bob@example.org;transport=tls>"),
            Some("example.org")
        );
        assert_eq!(sip_host("sip:[::1]:5060"), Some("::1"));
        assert_eq!(sip_host("sip:example.org"), Some("example.org"));
        assert_eq!(sip_host("mailto:bob@x"), None);
    }

    #[tokio::test]
    async fn loopback_is_reached_from_loopback() {
        let ip = toward(None, "127.0.0.1").await.unwrap();
        assert!(ip.is_loopback());
        let set: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(toward(Some(set), "127.0.0.1").await.unwrap(), set);
    }
}
