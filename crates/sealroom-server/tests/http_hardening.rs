//! The HTTP side from an attacker's seat: what every response tells the browser, a page of
//! another site opening the signalling WebSocket, one address opening many connections, and a
//! connection that goes silent.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sealroom_server::config::AccessSettings;
use support::TestServer;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// A WebSocket handshake to `/ws` with extra headers: the upgraded socket, or the HTTP status
/// of the refusal.
async fn open(
    server: &TestServer,
    headers: &[(&'static str, &str)],
) -> Result<support::Socket, u16> {
    let mut request = format!("ws://{}/ws", server.server.http_addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/metrics", "/no-such-thing", "/ws"] {
        let (head, _) = server.get(path).await;
        let head = head.to_ascii_lowercase();
        for expected in [
            "content-security-policy: default-src 'none'; script-src 'self' 'wasm-unsafe-eval';",
            "frame-ancestors 'none'",
            "referrer-policy: no-referrer",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "permissions-policy: camera=(self), microphone=(self), display-capture=(self)",
            "cross-origin-opener-policy: same-origin",
        ] {
            assert!(
                head.contains(expected),
                "{path}: no {expected:?} in\n{head}"
            );
        }
        assert!(!head.contains("unsafe-inline"), "{head}");
        assert!(
            !head.contains("strict-transport-security"),
            "no HSTS over plain HTTP"
        );
    }
}

#[tokio::test]
async fn a_page_from_another_site_cannot_open_the_websocket() {
    let server = TestServer::start().await;
    let own = format!("http://{}", server.server.http_addr);
    assert_eq!(
        open(&server, &[("origin", "https://evil.example")])
            .await
            .err(),
        Some(403)
    );
    assert!(open(&server, &[("origin", &own)]).await.is_ok());
    assert!(
        open(&server, &[]).await.is_ok(),
        "native clients send no Origin"
    );
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_connections() {
    let server = TestServer::start_with_access(AccessSettings {
        connections_per_address: 2,
        ..AccessSettings::default()
    })
    .await;
    let first = open(&server, &[]).await.unwrap();
    let _second = open(&server, &[]).await.unwrap();
    assert_eq!(open(&server, &[]).await.err(), Some(429));
    drop(first);
    // The slot comes back once the server has seen the first connection go.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open(&server, &[]).await.is_err() {
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let server = TestServer::start_with_access(AccessSettings {
        idle_timeout_secs: 1,
        ..AccessSettings::default()
    })
    .await;
    let socket = open(&server, &[]).await.unwrap();
    // Not reading means not answering the server's pings, as a dead peer would.
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    let (_, mut stream) = socket.split();
    let mut saw_ping = false;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.next().await {
                Some(Ok(tungstenite::Message::Ping(_))) => saw_ping = true,
                Some(Ok(tungstenite::Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the silent connection was left open");
    assert!(saw_ping, "the server pinged before giving up");
}
