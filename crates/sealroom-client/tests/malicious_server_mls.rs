//! A malicious server at the signalling level, played by the test itself: it speaks Sealroom's
//! protocol to a real client and tries to slip a ghost member into the group as external sender.
//! The client refuses (the ghost never reaches the roster) and flags the attempt.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sealroom_client::session::{JoinOptions, RoomClient};
use sealroom_e2ee::{Device, DeviceIdentity, ExternalSender, ObservedMessage};
use sealroom_protocol::{Bytes, ClientMessage, GroupAction, ServerMessage, decode, encode};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn send(socket: &mut Socket, message: ServerMessage) {
    socket
        .send(Message::Text(encode(&message).into()))
        .await
        .unwrap();
}

/// The next client message of the wanted kind (others, like the SDP offer, are ignored).
async fn next<T>(socket: &mut Socket, pick: impl Fn(ClientMessage) -> Option<T>) -> T {
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("client went away");
        };
        if let Some(found) = pick(decode(&text).unwrap()) {
            return found;
        }
    }
}

#[tokio::test]
async fn ghost_proposed_by_a_malicious_server_is_refused_and_flagged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ExternalSender::new(DeviceIdentity::generate("evil-ds").unwrap());
    let external_sender = Bytes(server.key().unwrap().0);

    let client = tokio::spawn(RoomClient::join(JoinOptions {
        server: format!("http://{addr}"),
        room: "ghost-town".into(),
        display_name: "alice".into(),
        publish: None,
        bind_ip: "127.0.0.1".parse().unwrap(),
        password: None,
    }));
    let (stream, _) = listener.accept().await.unwrap();
    let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
    next(&mut socket, |m| {
        matches!(m, ClientMessage::Join { .. }).then_some(())
    })
    .await;
    send(
        &mut socket,
        ServerMessage::Joined {
            participant_id: "p1".into(),
            external_sender,
            group: GroupAction::CreateGroup,
        },
    )
    .await;
    let client = client.await.unwrap().expect("joined");
    let group_info = next(&mut socket, |m| match m {
        ClientMessage::GroupCreated { group_info } => Some(group_info),
        _ => None,
    })
    .await;
    let mut observed = server.observe(group_info.as_ref()).unwrap();

    // The attack: propose a member of the server's own, then ask the client to commit.
    let ghost = Device::new(DeviceIdentity::generate("ghost").unwrap());
    let proposal = observed.propose_add(&ghost.key_package().unwrap()).unwrap();
    send(
        &mut socket,
        ServerMessage::Proposal {
            proposal: Bytes(proposal),
        },
    )
    .await;
    send(
        &mut socket,
        ServerMessage::CommitRequested {
            key_packages: Vec::new(),
        },
    )
    .await;

    let (commit, welcome) = next(&mut socket, |m| match m {
        ClientMessage::Commit {
            commit, welcome, ..
        } => Some((commit, welcome)),
        _ => None,
    })
    .await;
    assert!(welcome.is_none(), "no Welcome: nobody is being added");
    assert_eq!(
        observed.process(commit.as_ref()).unwrap(),
        ObservedMessage::Commit { epoch: 1 }
    );
    assert!(
        observed
            .roster()
            .iter()
            .all(|m| m.credential_name != "ghost"),
        "the committed group has no ghost"
    );
    send(&mut socket, ServerMessage::CommitAccepted { epoch: 1 }).await;

    let status = client
        .wait_until(Duration::from_secs(10), |s| {
            s.epoch == Some(1) && !s.warnings.is_empty()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    assert!(status.roster.iter().all(|m| m.name != "ghost"));
    assert!(
        status.warnings[0].contains("ghost"),
        "{:?}",
        status.warnings
    );
}
