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
//!   connection with the user's network position (cross-site WebSocket hijacking). Clients
//!   that send no `Origin` (the native client) are not browsers and are let through.

use axum::{
    Router,
    http::{HeaderMap, HeaderName, HeaderValue, header},
};
use tower_http::set_header::SetResponseHeaderLayer;

/// The page's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' \
     'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
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

/// Whether a WebSocket upgrade may proceed: no `Origin` (not a browser), an `Origin` whose
/// host and port are the request's `Host`, or one listed in `allowed_origins`.
pub fn origin_allowed(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed_origins.iter().any(|allowed| allowed == origin) {
        return true;
    }
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
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

    #[test]
    fn same_origin_and_non_browsers_may_connect() {
        let own = headers(&[
            ("host", "meet.example:8080"),
            ("origin", "https://meet.example:8080"),
        ]);
        assert!(origin_allowed(&own, &[]));
        assert!(origin_allowed(&headers(&[("host", "meet.example")]), &[]));
    }

    #[test]
    fn another_site_may_not_unless_listed() {
        let foreign = headers(&[("host", "meet.example"), ("origin", "https://evil.example")]);
        assert!(!origin_allowed(&foreign, &[]));
        assert!(origin_allowed(
            &foreign,
            &["https://evil.example".to_owned()]
        ));
        let prefix = headers(&[
            ("host", "meet.example"),
            ("origin", "https://meet.example.evil"),
        ]);
        assert!(!origin_allowed(&prefix, &[]));
        let opaque = headers(&[("host", "meet.example"), ("origin", "null")]);
        assert!(!origin_allowed(&opaque, &[]));
    }
}
