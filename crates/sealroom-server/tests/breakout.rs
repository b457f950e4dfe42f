//! Breakout rooms through a real server: a moderator opens them, the main room's participants
//! enter them with a ticket (their session there) in their main-room role, under the main
//! room's permissions — and nobody else enters: no ticket, a forged or borrowed one, one from
//! the lobby or after the breakout rooms closed all get `access_denied`, whatever else the
//! join carries. Who leaves the main room for good leaves its breakout room too.

mod support;

use futures_util::StreamExt;
use sealroom_e2ee::{Device, DeviceIdentity, ExternalSenderKey, GroupSession};
use sealroom_protocol::{
    Allowed, ApplicationKind, BreakoutTicket, Bytes, ClientMessage, ErrorCode, GroupAction,
    MAX_BREAKOUT_ROOMS, Permissions, RemovalReason, Role, ServerMessage,
};
use sealroom_server::{config::AccessSettings, rate_limit::RateLimit};
use support::{Member, SETTLE, Socket, TestServer, link_join, send, wait_for};
use tokio_tungstenite::tungstenite::Message;

/// A password the server's policy takes.
const PASSWORD: &str = "velvet harbour sings";

/// A server whose join limits leave room for every attempt a test makes from 127.0.0.1.
async fn server() -> TestServer {
    let generous = RateLimit {
        burst: 100,
        per_minute: 100,
    };
    TestServer::start_with_access(AccessSettings {
        join_per_address: generous,
        join_per_room: generous,
        ..AccessSettings::default()
    })
    .await
}

/// `member`'s ticket out of `main`, where it is.
fn ticket(member: &Member, main: &str) -> BreakoutTicket {
    BreakoutTicket {
        room: main.into(),
        participant_id: member.id.clone(),
        resume_token: member.resume_token.clone(),
    }
}

/// Sends `message`, then a history request: once that is answered (a refusal, as the raw
/// members are in no group), the server has handled `message`. Its refusal code, if any.
async fn request(member: &mut Member, message: ClientMessage) -> Result<(), ErrorCode> {
    send(&mut member.socket, &message).await;
    send(&mut member.socket, &ClientMessage::History { after: 0 }).await;
    let answer = |m| match m {
        ServerMessage::Error { code, .. } => Some(Some(code)),
        ServerMessage::History { .. } => Some(None),
        _ => None,
    };
    match wait_for(&mut member.socket, answer).await {
        None | Some(ErrorCode::OutOfOrder) => Ok(()),
        Some(refused) => {
            // The history request's answer follows.
            wait_for(&mut member.socket, answer).await;
            Err(refused)
        }
    }
}

async fn open_breakouts(member: &mut Member, rooms: &[&str]) -> Result<(), ErrorCode> {
    let rooms = rooms.iter().map(|r| (*r).to_owned()).collect();
    request(member, ClientMessage::OpenBreakouts { rooms }).await
}

/// Alice creates `main` (so moderates it) and Bob joins it as a guest; Alice opens `breakouts`.
async fn meeting(server: &TestServer, main: &str, breakouts: &[&str]) -> (Member, Member) {
    let mut alice = Member::join(server, main, "alice").await;
    let bob = Member::join(server, main, "bob").await;
    open_breakouts(&mut alice, breakouts).await.unwrap();
    (alice, bob)
}

/// Enters breakout room `room` with `member`'s ticket out of `main`.
async fn enter(server: &TestServer, room: &str, main: &str, member: &Member) -> Member {
    let name = format!("{}-in-{room}", member.id);
    Member::try_join(server, &link_join(room, &name, Some(ticket(member, main))))
        .await
        .unwrap_or_else(|code| panic!("refused with {code:?}"))
}

/// Sends `join`, which must be refused with `access_denied`.
async fn refused(server: &TestServer, join: ClientMessage) {
    let answer = Member::try_join(server, &join).await.map(|m| m.group);
    assert_eq!(answer.err(), Some(ErrorCode::AccessDenied), "{join:?}");
}

/// The reasons of the join refusals audited for `room`.
async fn refusal_reasons(server: &TestServer, room: &str) -> Vec<String> {
    let records = server.server.storage.audit_log(room).await.unwrap();
    records
        .into_iter()
        .filter(|r| r.action == "join_refused")
        .filter_map(|r| r.detail?.split(' ').next().map(str::to_owned))
        .collect()
}

/// The role the participant list `member` got on entering gives it.
fn role(member: &Member) -> Role {
    member
        .seen
        .iter()
        .find_map(|m| match m {
            ServerMessage::Participants { participants } => participants
                .iter()
                .find(|p| p.id == member.id)
                .map(|p| p.role),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no participant list: {:#?}", member.seen))
}

fn got_moderator_key(member: &Member) -> bool {
    member
        .seen
        .iter()
        .any(|m| matches!(m, ServerMessage::ModeratorKey { .. }))
}

/// `member`, the first in its room, creates the room's group.
async fn create_group(member: &mut Member, name: &str) -> GroupSession {
    assert_eq!(member.group, GroupAction::CreateGroup);
    let device = Device::new(DeviceIdentity::generate(name).unwrap());
    let server = ExternalSenderKey(member.external_sender.0.clone());
    let group = device.create_group(&[server]).unwrap();
    let group_info = Bytes(group.group_info().unwrap());
    send(
        &mut member.socket,
        &ClientMessage::GroupCreated { group_info },
    )
    .await;
    group
}

/// Reads until the server closes the connection.
/// Why the server removed `member`, which it then disconnects.
async fn removed(member: &mut Member) -> RemovalReason {
    let reason = wait_for(&mut member.socket, |m| match m {
        ServerMessage::Removed { reason } => Some(reason),
        _ => None,
    })
    .await;
    closed(&mut member.socket).await;
    reason
}

async fn closed(socket: &mut Socket) {
    let read = async {
        while let Some(Ok(frame)) = socket.next().await {
            if let Message::Close(_) = frame {
                return;
            }
        }
    };
    tokio::time::timeout(SETTLE, read)
        .await
        .expect("the server closed the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_enter_breakout_rooms_with_their_tickets_in_their_main_room_roles() {
    let server = server().await;
    let (alice, bob) = meeting(&server, "plenary", &["plenary-a", "plenary-b"]).await;

    // Bob is first in: the guest still enters as a guest, not as the room's creator-moderator.
    let bob_in = enter(&server, "plenary-a", "plenary", &bob).await;
    assert_eq!(bob_in.group, GroupAction::CreateGroup);
    assert_eq!(role(&bob_in), Role::Guest);
    assert!(!got_moderator_key(&bob_in));

    let alice_in = enter(&server, "plenary-a", "plenary", &alice).await;
    assert_eq!(
        alice_in.group,
        GroupAction::AwaitWelcome,
        "no lobby, no wait"
    );
    assert_eq!(role(&alice_in), Role::Moderator);
    assert!(got_moderator_key(&alice_in), "the breakout room's own key");

    let alice_in_b = enter(&server, "plenary-b", "plenary", &alice).await;
    assert_eq!(alice_in_b.group, GroupAction::CreateGroup);
    assert_eq!(role(&alice_in_b), Role::Moderator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakout_room_refuses_joins_without_a_ticket_whatever_they_carry() {
    let server = server().await;
    let (mut alice, bob) = meeting(&server, "agora", &["agora-a", "agora-b"]).await;
    let password = Some(PASSWORD.to_owned());
    request(&mut alice, ClientMessage::SetPassword { password })
        .await
        .unwrap();
    let main_key = alice.seen.iter().find_map(|m| match m {
        ServerMessage::ModeratorKey { key } => Some(key.clone()),
        _ => None,
    });
    let alice_in = enter(&server, "agora-a", "agora", &alice).await;
    let _bob_in = enter(&server, "agora-a", "agora", &bob).await;
    let breakout_key = alice_in.seen.iter().find_map(|m| match m {
        ServerMessage::ModeratorKey { key } => Some(key.clone()),
        _ => None,
    });

    for room in ["agora-a", "agora-b"] {
        refused(&server, link_join(room, "mallory", None)).await;
        let mut with_password = link_join(room, "mallory", None);
        let ClientMessage::Join { password, .. } = &mut with_password else {
            unreachable!()
        };
        *password = Some(PASSWORD.into());
        refused(&server, with_password).await;
        for key in [&main_key, &breakout_key] {
            let mut with_key = link_join(room, "mallory", None);
            let ClientMessage::Join { moderator_key, .. } = &mut with_key else {
                unreachable!()
            };
            moderator_key.clone_from(key);
            refused(&server, with_key).await;
        }
    }
    let reasons = refusal_reasons(&server, "agora-a").await;
    assert!(
        reasons
            .iter()
            .any(|r| r == "reason=breakout_without_ticket"),
        "{reasons:?}"
    );
    // The breakout room nobody entered was not made by the attempts.
    let _bob_in_b = enter(&server, "agora-b", "agora", &bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakout_room_refuses_forged_and_borrowed_tickets() {
    let server = server().await;
    let (_alice, bob) = meeting(&server, "council", &["council-a"]).await;
    let mut eve = Member::join(&server, "elsewhere", "eve").await;
    open_breakouts(&mut eve, &["elsewhere-a"]).await.unwrap();
    let _bob_in = enter(&server, "council-a", "council", &bob).await;

    let wrong_token = BreakoutTicket {
        resume_token: "00112233445566778899aabbccddeeff".into(),
        ..ticket(&bob, "council")
    };
    let eve_claims_council = BreakoutTicket {
        room: "council".into(),
        ..ticket(&eve, "elsewhere")
    };
    let not_opened_by_elsewhere = ticket(&eve, "elsewhere");
    let no_such_main = ticket(&bob, "no-such-room");
    for forged in [
        wrong_token,
        eve_claims_council,
        not_opened_by_elsewhere,
        no_such_main,
    ] {
        refused(&server, link_join("council-a", "mallory", Some(forged))).await;
    }
    let reasons = refusal_reasons(&server, "council-a").await;
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("reason=breakout_ticket")),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_waiting_in_the_main_rooms_lobby_cannot_enter_a_breakout_room() {
    let server = server().await;
    let (mut alice, _bob) = meeting(&server, "guild", &["guild-a"]).await;
    request(&mut alice, ClientMessage::SetLobby { enabled: true })
        .await
        .unwrap();
    let dave = Member::join(&server, "guild", "dave").await;
    assert_eq!(dave.group, GroupAction::WaitInLobby);

    refused(
        &server,
        link_join("guild-a", "dave", Some(ticket(&dave, "guild"))),
    )
    .await;

    let admit = ClientMessage::Admit {
        participant_id: dave.id.clone(),
    };
    request(&mut alice, admit).await.unwrap();
    let dave_in = enter(&server, "guild-a", "guild", &dave).await;
    assert_eq!(
        dave_in.group,
        GroupAction::CreateGroup,
        "admitted, it enters"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_enters_a_breakout_room_after_close_breakouts() {
    let server = server().await;
    let (mut alice, bob) = meeting(&server, "salon", &["salon-a", "salon-b"]).await;
    let carol = Member::join(&server, "salon", "carol").await;
    let mut bob_in = enter(&server, "salon-a", "salon", &bob).await;

    request(&mut alice, ClientMessage::CloseBreakouts)
        .await
        .unwrap();
    for room in ["salon-a", "salon-b"] {
        refused(
            &server,
            link_join(room, "carol", Some(ticket(&carol, "salon"))),
        )
        .await;
    }
    // The breakout room made before the close stays one: no way in without a ticket.
    refused(&server, link_join("salon-a", "carol", None)).await;
    request(&mut bob_in, ClientMessage::Unmute)
        .await
        .expect("bob is still in its breakout room");

    // Reopened, the live breakout room is still this room's own to list.
    open_breakouts(&mut alice, &["salon-a"]).await.unwrap();
    let _carol_in = enter(&server, "salon-a", "salon", &carol).await;

    // The moderator's opening and closing are in the audit log, with the rooms' names.
    let records = server.server.storage.audit_log("salon").await.unwrap();
    let said: Vec<(String, Option<String>)> = records
        .into_iter()
        .filter(|r| r.action.starts_with("breakouts_"))
        .map(|r| (r.action, r.detail))
        .collect();
    let opened = |rooms: &str| {
        (
            "breakouts_opened".to_owned(),
            Some(format!("rooms={rooms}")),
        )
    };
    let closed = ("breakouts_closed".to_owned(), None);
    assert_eq!(said, [opened("salon-a,salon-b"), closed, opened("salon-a")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_moderator_opens_breakout_rooms_and_only_rooms_nobody_else_has() {
    let server = server().await;
    let (mut alice, mut bob) = meeting(&server, "forum", &["forum-a"]).await;
    let mut eve = Member::join(&server, "other", "eve").await;
    open_breakouts(&mut eve, &["other-a"]).await.unwrap();

    assert_eq!(
        open_breakouts(&mut bob, &["bobs-own"]).await,
        Err(ErrorCode::Forbidden)
    );
    assert_eq!(
        request(&mut bob, ClientMessage::CloseBreakouts).await,
        Err(ErrorCode::Forbidden)
    );
    let too_many: Vec<String> = (0..=MAX_BREAKOUT_ROOMS)
        .map(|n| format!("forum-{n}"))
        .collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    for (rooms, code) in [
        (&["other"][..], ErrorCode::Forbidden),
        (&["other-a"], ErrorCode::Forbidden),
        (&["forum"], ErrorCode::Forbidden),
        (&["Not A Name"], ErrorCode::InvalidRoomName),
        (&["forum-x", "forum-x"], ErrorCode::Malformed),
        (&too_many, ErrorCode::Malformed),
    ] {
        assert_eq!(
            open_breakouts(&mut alice, rooms).await,
            Err(code),
            "{rooms:?}"
        );
    }
    refused(
        &server,
        link_join("other-a", "bob", Some(ticket(&bob, "forum"))),
    )
    .await;
    let _bob_in = enter(&server, "forum-a", "forum", &bob).await;
    let records = server.server.storage.audit_log("forum").await.unwrap();
    let forbidden = records
        .iter()
        .filter(|r| r.action == "moderation_forbidden")
        .count();
    assert_eq!(forbidden, 2, "bob's two tries: {records:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakout_room_applies_the_main_rooms_permissions() {
    let server = server().await;
    let mut alice = Member::join(&server, "studio", "alice").await;
    let bob = Member::join(&server, "studio", "bob").await;
    let chat_for_moderators = Permissions {
        chat: Allowed::Moderators,
        ..Permissions::default()
    };
    let permissions = ClientMessage::SetPermissions {
        permissions: chat_for_moderators,
    };
    request(&mut alice, permissions).await.unwrap();
    open_breakouts(&mut alice, &["studio-a"]).await.unwrap();

    let mut bob_in = enter(&server, "studio-a", "studio", &bob).await;
    assert!(bob_in.seen.iter().any(|m| matches!(
        m,
        ServerMessage::RoomSettings { permissions, lobby: false, wait_for_moderator: false, .. }
            if *permissions == chat_for_moderators
    )));
    let mut group = create_group(&mut bob_in, "bob").await;
    let chat = group
        .encrypt_application(ApplicationKind::Chat.label(), b"psst")
        .unwrap();
    let application = ClientMessage::Application {
        message: Bytes(chat),
    };
    assert_eq!(
        request(&mut bob_in, application).await,
        Err(ErrorCode::Forbidden)
    );
    let records = server.server.storage.audit_log("studio-a").await.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.action == "permission_refused" && r.detail.as_deref() == Some("what=chat")),
        "{records:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_kicked_from_the_main_room_is_removed_from_its_breakout_room() {
    let server = server().await;
    let (mut alice, bob) = meeting(&server, "townhall", &["townhall-a"]).await;
    let mut alice_in = enter(&server, "townhall-a", "townhall", &alice).await;
    let mut group = create_group(&mut alice_in, "alice").await;
    let mut bob_in = enter(&server, "townhall-a", "townhall", &bob).await;
    assert_eq!(bob_in.group, GroupAction::AwaitWelcome);
    let bob_device = Device::new(DeviceIdentity::generate("bob").unwrap());
    let key_package = Bytes(bob_device.key_package().unwrap());
    send(
        &mut bob_in.socket,
        &ClientMessage::KeyPackage { key_package },
    )
    .await;
    let key_packages = wait_for(&mut alice_in.socket, |m| match m {
        ServerMessage::CommitRequested { key_packages } => Some(key_packages),
        _ => None,
    })
    .await;
    let key_packages: Vec<&[u8]> = key_packages.iter().map(|k| k.0.as_slice()).collect();
    let add = group.commit(&key_packages, &[]).unwrap();
    let commit = ClientMessage::Commit {
        epoch: add.epoch,
        commit: Bytes(add.commit),
        welcome: add.welcome.map(Bytes),
    };
    send(&mut alice_in.socket, &commit).await;
    wait_for(&mut bob_in.socket, |m| {
        matches!(m, ServerMessage::Welcome { .. }).then_some(())
    })
    .await;

    let kick = ClientMessage::Kick {
        participant_id: bob.id.clone(),
    };
    request(&mut alice, kick).await.unwrap();
    assert_eq!(removed(&mut bob_in).await, RemovalReason::Kicked);
    wait_for(&mut alice_in.socket, |m| {
        matches!(m, ServerMessage::Proposal { .. }).then_some(())
    })
    .await;
    wait_for(&mut alice_in.socket, |m| match m {
        ServerMessage::Participants { participants } => {
            participants.iter().all(|p| p.id != bob_in.id).then_some(())
        }
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_meeting_ending_ends_its_participants_breakout_seats() {
    let server = server().await;
    let (mut alice, bob) = meeting(&server, "congress", &["congress-a"]).await;
    let mut bob_in = enter(&server, "congress-a", "congress", &bob).await;
    let mut carol = Member::join(&server, "congress", "carol").await;
    let mut carol_in = enter(&server, "congress-a", "congress", &carol).await;

    // Carol leaves the main room for good; Bob's seat is untouched.
    send(&mut carol.socket, &ClientMessage::Leave).await;
    assert_eq!(removed(&mut carol_in).await, RemovalReason::MeetingEnded);
    request(&mut bob_in, ClientMessage::Unmute)
        .await
        .expect("bob is still in its breakout room");

    send(&mut alice.socket, &ClientMessage::EndMeeting).await;
    assert_eq!(removed(&mut bob_in).await, RemovalReason::MeetingEnded);
    // Its main room gone, the old ticket opens nothing.
    refused(
        &server,
        link_join("congress-a", "bob", Some(ticket(&bob, "congress"))),
    )
    .await;
}
