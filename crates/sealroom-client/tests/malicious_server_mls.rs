//! A malicious server at the signalling level, played by the test itself: it speaks Sealroom's
//! protocol to real clients and tries to slip a ghost member into the group — as external
//! sender, by asking a client to commit a joiner nobody admitted from a room's lobby, and with a
//! colluding member's commit. The clients refuse what they can, and flag the rest.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sealroom_client::session::{JoinOptions, RoomClient};
use sealroom_e2ee::{Device, DeviceIdentity, ExternalSender, ObservedMessage};
use sealroom_protocol::{
    Bytes, ClientMessage, GroupAction, ParticipantInfo, Permissions, Role, ServerMessage, decode,
    encode,
};
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

fn join_options(addr: std::net::SocketAddr, name: &str, link: Option<String>) -> JoinOptions {
    JoinOptions {
        server: format!("http://{addr}"),
        room: "ghost-town".into(),
        display_name: name.into(),
        publish: None,
        bind_ip: "127.0.0.1".parse().unwrap(),
        password: None,
        moderator_key: None,
        ca_file: None,
        reconnect: false,
        session_token: None,
        link,
        device_key: None,
    }
}

/// The server's side of a join: accepts `name`'s connection, waits for its `join` and answers
/// that it is let in, to do `action` about the group. The joined client and the socket.
async fn accept_join(
    listener: &TcpListener,
    server: &ExternalSender,
    name: &str,
    action: GroupAction,
) -> (RoomClient, Socket) {
    accept_join_with(listener, server, (name, None), action).await
}

/// [`accept_join`] of a client that comes with the room link `link`.
async fn accept_join_with(
    listener: &TcpListener,
    server: &ExternalSender,
    (name, link): (&str, Option<String>),
    action: GroupAction,
) -> (RoomClient, Socket) {
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(RoomClient::join(join_options(addr, name, link)));
    let (stream, _) = listener.accept().await.unwrap();
    let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
    next(&mut socket, |m| {
        matches!(m, ClientMessage::Join { .. }).then_some(())
    })
    .await;
    send(&mut socket, joined(server, name, action)).await;
    (client.await.unwrap().expect("joined"), socket)
}

fn joined(server: &ExternalSender, name: &str, action: GroupAction) -> ServerMessage {
    ServerMessage::Joined {
        participant_id: name.into(),
        external_sender: Bytes(server.key().unwrap().0),
        group: action,
    }
}

#[tokio::test]
async fn ghost_proposed_by_a_malicious_server_is_refused_and_flagged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = ExternalSender::new(DeviceIdentity::generate("evil-ds").unwrap());
    let (client, mut socket) =
        accept_join(&listener, &server, "alice", GroupAction::CreateGroup).await;
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

fn lobby_settings() -> ServerMessage {
    ServerMessage::RoomSettings {
        locked: false,
        password_required: false,
        lobby: true,
        permissions: Permissions::default(),
        wait_for_moderator: false,
    }
}

fn info(id: &str, name: &str, role: Role, device: &sealroom_e2ee::Fingerprint) -> ParticipantInfo {
    ParticipantInfo {
        id: id.into(),
        display_name: name.into(),
        role,
        fingerprint: Some(device.to_string()),
        muted: false,
        account: None,
    }
}

/// A lobby room: Alice opened it by typing its name (her client made the room link and put
/// her key in the room policy as moderator), Bob came with the link. The server turns the
/// lobby on, then asks each client to add a ghost nobody admitted, and tells Bob that Mallory,
/// its own device, is a moderator: neither client adds the ghost or Mallory, and both say so.
#[tokio::test]
async fn a_device_no_moderator_admitted_is_refused_by_every_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = ExternalSender::new(DeviceIdentity::generate("evil-ds").unwrap());
    let (alice, mut alice_socket) =
        accept_join(&listener, &server, "alice", GroupAction::CreateGroup).await;
    let group_info = next(&mut alice_socket, |m| match m {
        ClientMessage::GroupCreated { group_info } => Some(group_info),
        _ => None,
    })
    .await;
    let mut observed = server.observe(group_info.as_ref()).unwrap();
    let link = alice
        .wait_until(Duration::from_secs(10), |s| s.new_link.is_some())
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"))
        .new_link;
    let bob_joins = ("bob", link);
    let (bob, mut bob_socket) =
        accept_join_with(&listener, &server, bob_joins, GroupAction::AwaitWelcome).await;
    let bob_key_package = next(&mut bob_socket, |m| match m {
        ClientMessage::KeyPackage { key_package } => Some(key_package),
        _ => None,
    })
    .await;
    let key_packages = vec![bob_key_package];
    let (commit, welcome) = commit_asked(&mut alice_socket, key_packages).await;
    sequence(&mut observed, &commit, &mut alice_socket, &mut []).await;
    let welcome = welcome.expect("Bob, who holds the link, is added");
    send(&mut bob_socket, ServerMessage::Welcome { welcome }).await;

    // The lobby goes on: Alice's client puts it in the room policy, by a commit Bob applies.
    send(&mut alice_socket, lobby_settings()).await;
    let (commit, _) = next_commit(&mut alice_socket).await;
    sequence(
        &mut observed,
        &commit,
        &mut alice_socket,
        &mut [&mut bob_socket],
    )
    .await;
    for client in [&alice, &bob] {
        client
            .wait_until(Duration::from_secs(10), |s| s.epoch == Some(2))
            .await
            .unwrap_or_else(|s| panic!("{s:#?}"));
    }

    let ghost = Device::new(DeviceIdentity::generate("ghost").unwrap());
    let mallory = Device::new(DeviceIdentity::generate("mallory").unwrap());
    let listed = vec![info(
        "mallory",
        "mallory",
        Role::Moderator,
        &mallory.identity().fingerprint(),
    )];
    send(
        &mut bob_socket,
        ServerMessage::Participants {
            participants: listed,
        },
    )
    .await;
    for socket in [&mut alice_socket, &mut bob_socket] {
        let key_packages = vec![
            Bytes(ghost.key_package().unwrap()),
            Bytes(mallory.key_package().unwrap()),
        ];
        send(socket, ServerMessage::CommitRequested { key_packages }).await;
    }
    for client in [&alice, &bob] {
        let status = client
            .wait_until(Duration::from_secs(10), |s| s.warnings.len() == 2)
            .await
            .unwrap_or_else(|s| panic!("{s:#?}"));
        assert!(
            status.warnings.iter().all(|w| w.contains("did not admit")),
            "{:?}",
            status.warnings
        );
    }
    for socket in [&mut alice_socket, &mut bob_socket] {
        let commit = tokio::time::timeout(Duration::from_millis(500), next_commit(socket)).await;
        assert!(commit.is_err(), "nothing to commit: no commit at all");
    }
}

/// Asks the client on `socket` to commit `key_packages`; its commit and Welcome.
async fn commit_asked(socket: &mut Socket, key_packages: Vec<Bytes>) -> (Bytes, Option<Bytes>) {
    send(socket, ServerMessage::CommitRequested { key_packages }).await;
    next_commit(socket).await
}

async fn next_commit(socket: &mut Socket) -> (Bytes, Option<Bytes>) {
    next(socket, |m| match m {
        ClientMessage::Commit {
            commit, welcome, ..
        } => Some((commit, welcome)),
        _ => None,
    })
    .await
}

/// The server sequences the commit from `committer` and relays it to `others`.
async fn sequence(
    observed: &mut sealroom_e2ee::ObservedGroup,
    commit: &Bytes,
    committer: &mut Socket,
    others: &mut [&mut Socket],
) {
    let ObservedMessage::Commit { epoch } = observed.process(commit.as_ref()).unwrap() else {
        panic!("not a commit");
    };
    send(committer, ServerMessage::CommitAccepted { epoch }).await;
    for socket in others {
        let commit = commit.clone();
        send(socket, ServerMessage::Commit { commit, epoch }).await;
    }
}

/// The group is founded again under a client that has moved past its first epoch (the server
/// says the group was lost: everyone else left): the new group's epochs count from 0 again. Its
/// keys go into a new keyring; before, the install was refused (epoch 0 is not after 1) and the
/// client went on sending under the old group's key.
#[tokio::test]
async fn a_refounded_group_gets_a_new_keyring_not_the_old_groups_key() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = ExternalSender::new(DeviceIdentity::generate("ds").unwrap());
    let (client, mut socket) =
        accept_join(&listener, &server, "alice", GroupAction::CreateGroup).await;
    let first_group = next(&mut socket, |m| match m {
        ClientMessage::GroupCreated { group_info } => Some(group_info),
        _ => None,
    })
    .await;

    // A self-update moves the first group to epoch 1.
    client.self_update();
    next(&mut socket, |m| {
        matches!(m, ClientMessage::Commit { .. }).then_some(())
    })
    .await;
    send(&mut socket, ServerMessage::CommitAccepted { epoch: 1 }).await;
    client
        .wait_until(Duration::from_secs(10), |s| s.epoch == Some(1))
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    let old_key = client
        .media_keys()
        .lock()
        .unwrap()
        .current_key(0)
        .unwrap()
        .key()
        .to_vec();

    // The server has the client found the group again.
    send(
        &mut socket,
        joined(&server, "alice", GroupAction::CreateGroup),
    )
    .await;
    let second_group = next(&mut socket, |m| match m {
        ClientMessage::GroupCreated { group_info } => Some(group_info),
        _ => None,
    })
    .await;
    assert_ne!(first_group, second_group);
    let status = client
        .wait_until(Duration::from_secs(10), |s| s.epoch == Some(0))
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    assert!(status.local_errors.is_empty(), "{:?}", status.local_errors);
    let keys = client.media_keys();
    let keys = keys.lock().unwrap();
    assert_eq!(
        keys.current_epoch(),
        Some(0),
        "the new group's first epoch is installed"
    );
    assert_ne!(
        keys.current_key(0).unwrap().key(),
        old_key.as_slice(),
        "and sent under, not the old group's key"
    );
}
