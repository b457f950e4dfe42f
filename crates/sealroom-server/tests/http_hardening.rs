//! The HTTP side from an attacker's seat: what every response tells the browser, a page of
//! another site opening the signalling WebSocket, one address opening many connections, a
//! connection that goes silent or trickles its headers, and TLS.

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

/// DNS rebinding: a hostile site's name, made to resolve to the server, puts that name in
/// `Host` and in its pages' `Origin`, which then agree. Only the server's own origin (on
/// loopback: its address, or `localhost`) and the configured ones may connect.
#[tokio::test]
async fn a_page_from_a_rebound_host_name_cannot_open_the_websocket() {
    let server = TestServer::start().await;
    let port = server.server.http_addr.port();
    let rebound = format!("rebound.example:{port}");
    let rebound_origin = format!("http://{rebound}");
    assert_eq!(
        open(&server, &[("host", &rebound), ("origin", &rebound_origin)])
            .await
            .err(),
        Some(403)
    );
    let localhost = format!("http://localhost:{port}");
    assert!(open(&server, &[("origin", &localhost)]).await.is_ok());

    let behind_a_name = TestServer::start_configured(|c| {
        c.public_origin = Some("https://meet.example".into());
    })
    .await;
    let own = format!("http://{}", behind_a_name.server.http_addr);
    assert_eq!(
        open(&behind_a_name, &[("origin", &own)]).await.err(),
        Some(403),
        "the public origin replaces the address's"
    );
    let public = [("host", "meet.example"), ("origin", "https://meet.example")];
    assert!(open(&behind_a_name, &public).await.is_ok());
}

/// `/metrics` tells who meets when (room and participant counts, packet rates, audit
/// counters): only the operator's scraper, with the configured bearer token, reads it, and
/// without a token configured it is not served at all.
#[tokio::test]
async fn metrics_are_served_only_with_the_operators_token() {
    let server = TestServer::start().await;
    for refused in [&[][..], &["Authorization: Bearer not-the-token"]] {
        let (head, body) = server.request("GET", "/metrics", refused, "").await;
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
        assert!(!body.contains("sealroom_"), "{body}");
    }
    assert!(server.metrics().await.contains("sealroom_rooms"));

    let unconfigured = TestServer::start_configured(|c| c.metrics.token = None).await;
    let bearer = format!("Authorization: Bearer {}", support::METRICS_TOKEN);
    let (head, _) = unconfigured
        .request("GET", "/metrics", &[&bearer], "")
        .await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
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

#[tokio::test]
async fn a_request_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.server.http_addr)
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // Never finish the headers: the server must close, not wait forever.
    let closed = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still open after 20 s");
    println!("slow-loris connection closed after {:?}", started.elapsed());
}

/// `--tls-self-signed`: HTTPS with HSTS; the native client joins over `wss://` trusting only
/// the server's own certificate, and refuses a server whose certificate it was not given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_tls_serves_https_and_the_native_client_pins_it() {
    let server = TestServer::start_configured(|c| c.tls.self_signed = true).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let cert = server.data.path().join("tls/cert.pem");
    let key = server.data.path().join("tls/key.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600,
        "the private key is the owner's alone"
    );

    let alice = sealroom_client::session::RoomClient::join(sealroom_client::session::JoinOptions {
        ca_file: Some(cert.clone()),
        ..server.join_options("over-tls", "alice")
    })
    .await
    .expect("joined over wss");
    support::converge(&[&alice], &["alice"]).await;

    let (_, response) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{}/ws", server.server.http_addr),
        None,
        false,
        Some(pinned(&cert)),
    )
    .await
    .unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    // Another server's certificate (or none) is not this one.
    let other = TestServer::start_configured(|c| c.tls.self_signed = true).await;
    let refused =
        sealroom_client::session::RoomClient::join(sealroom_client::session::JoinOptions {
            ca_file: Some(other.data.path().join("tls/cert.pem")),
            ..server.join_options("over-tls", "mallory")
        })
        .await;
    assert!(refused.is_err(), "a certificate it was not given");
    let plain =
        tokio_tungstenite::connect_async(format!("ws://{}/ws", server.server.http_addr)).await;
    assert!(plain.is_err(), "no plain WebSocket on the TLS port");
}

fn pinned(cert: &std::path::Path) -> tokio_tungstenite::Connector {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Mallory floods her signalling connection (5,000 messages as fast as the socket takes
/// them): she is told to slow down, then cut off (audited), and Bob's media keeps reaching
/// Alice (loss printed; under 1% beyond what is in flight at the window's edges).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_participant_is_cut_off_and_the_others_media_flows() {
    use futures_util::SinkExt;
    use sealroom_protocol::{ClientMessage, ErrorCode, ServerMessage, decode, encode};

    // A small budget, so that the outcome does not hang on how fast this machine is.
    let server = TestServer::start_with_access(AccessSettings {
        messages_per_connection: sealroom_server::rate_limit::RateLimit {
            burst: 50,
            per_minute: 60,
        },
        ..AccessSettings::default()
    })
    .await;
    let alice = server.join("flooded", "alice").await;
    let bob = server.join("flooded", "bob").await;
    let statuses = support::converge(&[&alice, &bob], &["alice", "bob"]).await;
    let bob_leaf = statuses[1].leaf_index.unwrap();
    support::wait_for_media(&alice, &[bob_leaf]).await;
    let frames = async || {
        let sent = bob.media_stats().await.unwrap();
        let received = alice.media_stats().await.unwrap();
        let from_bob = &received.per_sender[&bob_leaf];
        (
            sent.audio_frames_sent + sent.video_frames_sent,
            from_bob.audio_frames + from_bob.video_frames,
        )
    };

    let mut mallory = support::connect(&server).await;
    let join = ClientMessage::Join {
        room: "flooded".into(),
        display_name: "mallory".into(),
        password: None,
        moderator_key: None,
        holds_link: true,
        breakout_of: None,
    };
    mallory
        .send(tungstenite::Message::Text(encode(&join).into()))
        .await
        .unwrap();
    let (sent_before, received_before) = frames().await;
    // Junk that costs the server a parse and an error reply each.
    let junk = encode(&ClientMessage::Application {
        message: sealroom_protocol::Bytes(vec![0; 64]),
    });
    let (mut sink, mut stream) = mallory.split();
    let flood = tokio::spawn(async move {
        let mut sent = 0;
        for _ in 0..5_000 {
            if sink
                .send(tungstenite::Message::Text(junk.clone().into()))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    });
    let mut told_to_slow_down = false;
    let cut_off = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(frame)) = stream.next().await {
            if let tungstenite::Message::Text(text) = frame
                && let Ok(ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }) = decode::<ServerMessage>(&text)
            {
                told_to_slow_down = true;
            }
        }
    })
    .await;
    assert!(cut_off.is_ok(), "the flooding connection was never closed");
    // The `rate_limited` answer is sent first, but a server closing on a client that is still
    // sending resets the TCP connection, which may discard it unread: printed, not asserted.
    println!(
        "mallory got {} messages out before the cut (rate_limited read: {told_to_slow_down})",
        flood.await.unwrap()
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let (sent_after, received_after) = frames().await;
    let (sent, received) = (sent_after - sent_before, received_after - received_before);
    let missing = sent.saturating_sub(received);
    println!(
        "during the flood Alice got {received} of Bob's {sent} frames ({:.2}% missing)",
        100.0 * missing as f64 / sent as f64
    );
    assert!(
        missing as f64 <= sent as f64 * 0.01 + 5.0,
        "{missing} of {sent} frames missing"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let records = server.server.storage.audit_log("flooded").await.unwrap();
        if records.iter().any(|r| r.action == "connection_flooding") {
            break;
        }
        assert!(Instant::now() < deadline, "no audit record: {records:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
