//! Bad input at the WebSocket: each gets a stable error code, and the server keeps serving the
//! others.

mod support;

use futures_util::{SinkExt, StreamExt};
use sealroom_protocol::{ErrorCode, MAX_MESSAGE_BYTES, ServerMessage, decode};
use support::{Socket, TestServer, connect, converge};
use tokio_tungstenite::tungstenite::Message;

/// Sends `text` and returns the next message that is not a participant list or room settings
/// (nor a keepalive ping).
async fn exchange(socket: &mut Socket, text: String) -> ServerMessage {
    socket.send(Message::Text(text.into())).await.unwrap();
    loop {
        let reply = match socket.next().await {
            Some(Ok(Message::Text(reply))) => reply,
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("connection closed: {other:?}"),
        };
        let message: ServerMessage = decode(&reply).unwrap();
        if !matches!(
            message,
            ServerMessage::Participants { .. }
                | ServerMessage::RoomSettings { .. }
                | ServerMessage::ResumeToken { .. }
                | ServerMessage::IceServers { .. }
        ) {
            return message;
        }
    }
}

fn code(message: &ServerMessage) -> ErrorCode {
    match message {
        ServerMessage::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_error_codes_and_the_room_keeps_working() {
    let server = TestServer::start().await;
    let alice = server.join("robust", "alice").await;
    let mut attacker = connect(&server).await;

    let cases = [
        ("garbage".to_owned(), ErrorCode::Malformed),
        (
            r#"{"v":1,"type":"teleport"}"#.to_owned(),
            ErrorCode::Malformed,
        ),
        (
            r#"{"v":99,"type":"leave"}"#.to_owned(),
            ErrorCode::UnsupportedVersion,
        ),
        (
            format!(
                r#"{{"v":1,"type":"sdp_offer","sdp":"{}"}}"#,
                "x".repeat(MAX_MESSAGE_BYTES)
            ),
            ErrorCode::TooLarge,
        ),
        (
            r#"{"v":1,"type":"commit","epoch":0,"commit":"AAEC"}"#.to_owned(),
            ErrorCode::OutOfOrder,
        ),
        (
            format!(
                r#"{{"v":1,"type":"join","room":"{}","display_name":"x"}}"#,
                "a".repeat(65)
            ),
            ErrorCode::InvalidRoomName,
        ),
        (
            r#"{"v":1,"type":"join","room":"robust","display_name":"bell\u0007"}"#.to_owned(),
            ErrorCode::InvalidDisplayName,
        ),
        (
            // A right-to-left override: shown as "Malloryexe.png".
            r#"{"v":1,"type":"join","room":"robust","display_name":"Mallory\u202egnp.exe"}"#
                .to_owned(),
            ErrorCode::InvalidDisplayName,
        ),
    ];
    for (text, expected) in cases {
        let reply = exchange(&mut attacker, text.clone()).await;
        assert_eq!(code(&reply), expected, "for {:.80}", text);
    }

    // Joined (saying it holds the room link, so it is not held in the lobby), the attacker
    // sends a commit for a wrong epoch and garbage MLS.
    let joined = exchange(
        &mut attacker,
        r#"{"v":1,"type":"join","room":"robust","display_name":"mallory","holds_link":true}"#
            .to_owned(),
    )
    .await;
    assert!(matches!(joined, ServerMessage::Joined { .. }));
    let reply = exchange(
        &mut attacker,
        r#"{"v":1,"type":"commit","epoch":42,"commit":"AAEC"}"#.to_owned(),
    )
    .await;
    assert_eq!(code(&reply), ErrorCode::OutOfOrder, "only members commit");
    let reply = exchange(
        &mut attacker,
        r#"{"v":1,"type":"key_package","key_package":"AAECAw=="}"#.to_owned(),
    )
    .await;
    assert_eq!(code(&reply), ErrorCode::InvalidMlsMessage);
    let reply = exchange(
        &mut attacker,
        r#"{"v":1,"type":"sdp_offer","sdp":"not sdp"}"#.to_owned(),
    )
    .await;
    assert_eq!(code(&reply), ErrorCode::InvalidSdp);

    // The room still works for everyone else.
    let bob = server.join("robust", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("sealroom_signalling_errors_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealroom_commits_sequenced_total"),
        "{metrics}"
    );
    assert_eq!(http_get(&server, "/healthz").await, "ok");
}

async fn http_get(server: &TestServer, path: &str) -> String {
    let (status, body) = server.get(path).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    body
}
