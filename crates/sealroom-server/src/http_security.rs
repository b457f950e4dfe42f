//! What every HTTP response carries, and who may open the signalling WebSocket.
//!
//! - A strict Content-Security-Policy: scripts, styles, workers and connections from the
//!   server's own origin only, no inline script or style, WebAssembly allowed to compile
//!   (`'wasm-unsafe-eval'`, which allows no JavaScript `eval`), no framing. An injected script
//!   could read every decrypted frame, so the page loads nothing it did not come with.
//! - `Referrer-Policy: no-referrer` (a room link is a secret), `X-Content-Type-Options:
//!   nosniff`, `X-Frame-Options: DENY` for browsers without `frame-ancestors`, a
//!   Permissions-Policy that grants camera, microphone and screen capture to this origin only,
//!   `Cross-Origin-Opener-Policy: same-origin`, and HSTS when serving over TLS.
//! - The WebSocket's `Origin`: a browser page from another site must not open a signalling
//!   connection with the user's network position (cross-site WebSocket hijacking, or DNS
//!   rebinding against a server on loopback or a LAN), so it must be the server's public origin
//!   or an allowed one. Clients that send no `Origin` (the native client) are not browsers and
//!   are let through.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Router,
    http::{HeaderMap, HeaderName, HeaderValue, header},
};
use tower_http::set_header::SetResponseHeaderLayer;

/// The page's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' \
     'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob: mediastream:; style-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the security headers to every response of `router`.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    tls: bool,
) -> Router<S> {
    let mut headers = vec![
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    if tls {
        headers.push((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
    }
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

/// The origins whose pages may open the signalling WebSocket: the public origin, or without
/// one the origin of a loopback address listened on (by its address and as `localhost`), and
/// the `allowed` ones. Never the request's `Host`: a hostile site whose name it made resolve to
/// the server (DNS rebinding) sends its own name there, and its pages would pass as the
/// server's.
pub fn websocket_origins(
    public_origin: Option<&str>,
    listen: SocketAddr,
    tls: bool,
    allowed: &[String],
) -> Vec<String> {
    let own = match public_origin {
        Some(origin) => vec![origin.to_owned()],
        None if listen.ip().is_loopback() => loopback_origins(listen, tls),
        None => Vec::new(),
    };
    own.into_iter().chain(allowed.iter().cloned()).collect()
}

fn loopback_origins(listen: SocketAddr, tls: bool) -> Vec<String> {
    let (scheme, default_port) = if tls { ("https", 443) } else { ("http", 80) };
    // Browsers leave the scheme's default port out of an origin.
    let port = match listen.port() {
        port if port == default_port => String::new(),
        port => format!(":{port}"),
    };
    let address = match listen.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    [address, "localhost".to_owned()]
        .map(|host| format!("{scheme}://{host}{port}"))
        .into()
}

/// Whether a WebSocket upgrade may proceed: no `Origin` (not a browser), or one of `origins`
/// (see [`websocket_origins`]).
pub fn origin_allowed(headers: &HeaderMap, origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    origin
        .to_str()
        .is_ok_and(|origin| origins.iter().any(|o| o.eq_ignore_ascii_case(origin)))
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    fn origins(public_origin: Option<&str>, listen: &str, tls: bool) -> Vec<String> {
        websocket_origins(public_origin, listen.parse().unwrap(), tls, &[])
    }

    #[test]
    fn on_loopback_the_own_origin_is_the_address_listened_on() {
        assert_eq!(
            origins(None, "127.0.0.1:8080", false),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        assert_eq!(
            origins(None, "[::1]:443", true),
            ["https://[::1]", "https://localhost"]
        );
        assert!(origins(None, "0.0.0.0:8080", false).is_empty());
        assert_eq!(
            origins(Some("https://meet.example"), "127.0.0.1:8080", false),
            ["https://meet.example"]
        );
    }

    #[test]
    fn the_own_origin_and_non_browsers_may_connect() {
        let own = origins(Some("https://meet.example:8080"), "127.0.0.1:1", false);
        let page = headers(&[
            ("host", "meet.example:8080"),
            ("origin", "https://Meet.Example:8080"),
        ]);
        assert!(origin_allowed(&page, &own));
        assert!(origin_allowed(&headers(&[("host", "meet.example")]), &own));
    }

    #[test]
    fn another_site_may_not_unless_listed() {
        let own = origins(Some("https://meet.example"), "127.0.0.1:1", false);
        let foreign = headers(&[("host", "meet.example"), ("origin", "https://evil.example")]);
        assert!(!origin_allowed(&foreign, &own));
        let listed = websocket_origins(
            Some("https://meet.example"),
            "127.0.0.1:1".parse().unwrap(),
            false,
            &["https://evil.example".to_owned()],
        );
        assert!(origin_allowed(&foreign, &listed));
        let rebound = headers(&[("host", "evil.example"), ("origin", "https://evil.example")]);
        assert!(!origin_allowed(&rebound, &own), "Host proves nothing");
        let prefix = headers(&[
            ("host", "meet.example"),
            ("origin", "https://meet.example.evil"),
        ]);
        assert!(!origin_allowed(&prefix, &own));
        let opaque = headers(&[("host", "meet.example"), ("origin", "null")]);
        assert!(!origin_allowed(&opaque, &own));
    }

    #[test]
    fn a_bearer_token_is_read_from_authorization() {
        let bearer = headers(&[("authorization", "Bearer abc ")]);
        assert_eq!(bearer_token(&bearer), Some("abc"));
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
    }
}
