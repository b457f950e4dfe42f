//! Which address a connection's rate limits and audit records name: its TCP peer, or — when
//! the peer is a reverse proxy the operator trusts — the client that proxy names in
//! `X-Forwarded-For`.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client's address. `X-Forwarded-For` is read only from a trusted proxy, right to left,
/// skipping further trusted proxies: the first address not among them is the client. Entries
/// to its left are whatever the client sent and are never believed. An entry that does not
/// parse stops the walk at the last trusted hop, so a malformed header can only make the limit
/// stricter (the proxy's own bucket), never name another address.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut last_trusted = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) if trusted_proxies.contains(&address) => last_trusted = address,
            Ok(address) => return address,
            Err(_) => return last_trusted,
        }
    }
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy = [ip("10.0.0.1")];
        let forwarded = headers(&["198.51.100.7"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &forwarded, &proxy),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), &forwarded, &proxy),
            ip("203.0.113.9"),
            "from anyone else the header is ignored"
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &proxy),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The client claimed to be 192.0.2.1; the first proxy saw 198.51.100.7.
        let forwarded = headers(&["192.0.2.1, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &forwarded, &proxies),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        let forwarded = headers(&["198.51.100.7, garbage, 10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &forwarded, &proxies),
            ip("10.0.0.2")
        );
    }
}
