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

fn join_options(addr: std::net::SocketAddr, name: &str) -> JoinOptions {
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
        link: None,
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
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(RoomClient::join(join_options(addr, name)));
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

/// A lobby room: Alice moderates, Bob and Mallory take part. The server asks each honest
/// client to add a ghost nobody admitted (both refuse and say so), then has Mallory, who
/// colludes, commit the ghost's Add: the ghost is in the group, and both honest clients show
/// that no moderator admitted it.
#[tokio::test]
async fn member_no_moderator_admitted_is_flagged_by_every_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = ExternalSender::new(DeviceIdentity::generate("evil-ds").unwrap());
    let accept =
        async |name: &str, action: GroupAction| accept_join(&listener, &server, name, action).await;

    let (alice, mut alice_socket) = accept("alice", GroupAction::CreateGroup).await;
    let group_info = next(&mut alice_socket, |m| match m {
        ClientMessage::GroupCreated { group_info } => Some(group_info),
        _ => None,
    })
    .await;
    let mut observed = server.observe(group_info.as_ref()).unwrap();
    let (bob, mut bob_socket) = accept("bob", GroupAction::AwaitWelcome).await;
    let bob_key_package = next(&mut bob_socket, |m| match m {
        ClientMessage::KeyPackage { key_package } => Some(key_package),
        _ => None,
    })
    .await;
    let mallory = Device::new(DeviceIdentity::generate("mallory").unwrap());

    // Before the lobby is on, Alice's client adds Bob and Mallory when asked.
    send(
        &mut alice_socket,
        ServerMessage::CommitRequested {
            key_packages: vec![bob_key_package, Bytes(mallory.key_package().unwrap())],
        },
    )
    .await;
    let (commit, welcome) = next(&mut alice_socket, |m| match m {
        ClientMessage::Commit {
            commit, welcome, ..
        } => Some((commit, welcome.unwrap())),
        _ => None,
    })
    .await;
    observed.process(commit.as_ref()).unwrap();
    send(
        &mut alice_socket,
        ServerMessage::CommitAccepted { epoch: 1 },
    )
    .await;
    send(
        &mut bob_socket,
        ServerMessage::Welcome {
            welcome: welcome.clone(),
        },
    )
    .await;
    let mut mallory_group = mallory.join_group(welcome.as_ref()).unwrap();

    let roster = observed.roster();
    let fingerprint = |name: &str| {
        roster
            .iter()
            .find(|m| m.credential_name == name)
            .unwrap()
            .fingerprint
    };
    let participants = vec![
        info("alice", "alice", Role::Moderator, &fingerprint("alice")),
        info("bob", "bob", Role::Participant, &fingerprint("bob")),
        info(
            "mallory",
            "mallory",
            Role::Participant,
            &fingerprint("mallory"),
        ),
    ];
    for socket in [&mut alice_socket, &mut bob_socket] {
        send(socket, lobby_settings()).await;
        send(
            socket,
            ServerMessage::Participants {
                participants: participants.clone(),
            },
        )
        .await;
    }
    for client in [&alice, &bob] {
        client
            .wait_until(Duration::from_secs(10), |s| {
                s.epoch == Some(1) && s.room_lobby && s.participants.len() == 3
            })
            .await
            .unwrap_or_else(|s| panic!("{s:#?}"));
    }

    // Attack 1: each honest client is asked to add the ghost; neither admitted it.
    let ghost = Device::new(DeviceIdentity::generate("ghost").unwrap());
    for socket in [&mut alice_socket, &mut bob_socket] {
        send(
            socket,
            ServerMessage::CommitRequested {
                key_packages: vec![Bytes(ghost.key_package().unwrap())],
            },
        )
        .await;
    }
    for client in [&alice, &bob] {
        let status = client
            .wait_until(Duration::from_secs(10), |s| !s.warnings.is_empty())
            .await
            .unwrap_or_else(|s| panic!("{s:#?}"));
        assert!(
            status.warnings[0].contains("did not admit"),
            "{:?}",
            status.warnings
        );
    }
    for socket in [&mut alice_socket, &mut bob_socket] {
        let commit = tokio::time::timeout(
            Duration::from_millis(500),
            next(socket, |m| {
                matches!(m, ClientMessage::Commit { .. }).then_some(())
            }),
        )
        .await;
        assert!(commit.is_err(), "nothing to commit: no commit at all");
    }

    // Attack 2: the colluding member commits the ghost's Add; the server sequences it.
    let commit = mallory_group
        .commit(&[&ghost.key_package().unwrap()], &[])
        .unwrap();
    observed.process(&commit.commit).unwrap();
    for socket in [&mut alice_socket, &mut bob_socket] {
        send(
            socket,
            ServerMessage::Commit {
                commit: Bytes(commit.commit.clone()),
                epoch: 2,
            },
        )
        .await;
    }
    for client in [&alice, &bob] {
        let status = client
            .wait_until(Duration::from_secs(10), |s| {
                s.epoch == Some(2) && s.warnings.len() == 2
            })
            .await
            .unwrap_or_else(|s| panic!("{s:#?}"));
        assert!(
            status.roster.iter().any(|m| m.name == "ghost"),
            "the ghost is in the group, for all to see"
        );
        assert!(
            status.warnings[1].contains("ghost")
                && status.warnings[1].contains("without a moderator's admission"),
            "{:?}",
            status.warnings
        );
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
