//! A client's signalling connection cut by the network (a proxy the test controls drops every
//! connection and refuses new ones for a while) while its media keeps flowing: within the
//! resume window the client takes up its session — same participant, same MLS leaf, no new
//! epoch — and gets every message sent during the outage exactly once. Past the window it is
//! removed and joins again as a new member.

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sealroom_client::session::{ChatEvent, JoinOptions, RoomClient};
use sealroom_protocol::{ClientMessage, ServerMessage, decode_numbered, encode, encode_numbered};
use sealroom_server::config::AccessSettings;
use support::{
    Proxy, SETTLE, Socket, TestServer, client_options, connect, converge, next_chat_messages,
    wait_for_media,
};
use tokio_tungstenite::tungstenite::Message;

/// Alice reaches the server through the proxy, Bob directly; they meet, then Alice's
/// signalling is cut for `outage` while Bob sends three chat messages.
async fn meeting_with_an_outage(access: AccessSettings, outage: Duration) -> Outage {
    let server = TestServer::start_with_access(access).await;
    let proxy = Proxy::start(server.server.http_addr).await;
    let alice = RoomClient::join(JoinOptions {
        reconnect: true,
        ..client_options(&format!("http://{}", proxy.addr), "tunnel", "alice")
    })
    .await
    .unwrap();
    let bob = server.join("tunnel", "bob").await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    wait_for_media(&alice, &[statuses[1].leaf_index.unwrap()]).await;
    alice
        .wait_until(SETTLE, |s| s.local_errors.is_empty())
        .await
        .unwrap();

    proxy.cut_for(outage);
    let cut_at = Instant::now();
    let messages: Vec<String> = (1..=3)
        .map(|n| format!("said during the outage, {n}"))
        .collect();
    tokio::time::sleep(outage / 4).await;
    for message in &messages {
        bob.send_chat(message, None);
    }
    Outage {
        server,
        _proxy: proxy,
        alice,
        bob,
        messages,
        cut_at,
    }
}

struct Outage {
    server: TestServer,
    /// Kept open: dropping it would cut every connection through it.
    _proxy: Proxy,
    alice: RoomClient,
    bob: RoomClient,
    messages: Vec<String>,
    cut_at: Instant,
}

async fn resumes_after(outage: Duration) {
    let Outage {
        server,
        _proxy,
        mut alice,
        bob,
        messages,
        cut_at,
    } = meeting_with_an_outage(AccessSettings::default(), outage).await;
    let before = alice.status();
    let mut chat = alice.take_chat().unwrap();
    let received = next_chat_messages(&mut chat, messages.len()).await;
    let status = alice
        .wait_until(outage + Duration::from_secs(10), |s| {
            !s.resumed_at_ms.is_empty()
        })
        .await
        .unwrap_or_else(|s| panic!("never resumed: {s:#?}"));
    println!(
        "{outage:?} outage: resumed and caught up {:?} after the cut",
        cut_at.elapsed()
    );
    let bob_leaf = bob.status().leaf_index.unwrap();
    let texts: Vec<&String> = received.iter().map(|m| &m.text).collect();
    assert_eq!(texts, messages.iter().collect::<Vec<_>>(), "in order");
    assert!(received.iter().all(|m| m.sender == bob_leaf));
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(event) = chat.try_recv() {
        assert!(
            !matches!(event, ChatEvent::Message(_)),
            "a message shown twice: {event:?}"
        );
    }
    let errors = alice.status().local_errors;
    let failed: Vec<&String> = errors
        .iter()
        .filter(|e| !e.starts_with("signalling closed"))
        .collect();
    assert!(failed.is_empty(), "only the cut itself: {errors:?}");
    assert!(status.rejoined_at_ms.is_empty(), "resumed, not rejoined");
    assert_eq!(status.leaf_index, before.leaf_index, "the same MLS leaf");
    assert_eq!(status.epoch, before.epoch, "nobody was removed or added");
    assert_eq!(bob.status().epoch, before.epoch);
    let media = alice.media_stats().await.unwrap();
    assert!(
        media.per_sender[&bob_leaf].audio_frames > 0,
        "media kept flowing outside the signalling connection"
    );
    let records = server.server.storage.audit_log("tunnel").await.unwrap();
    assert!(records.iter().any(|r| r.action == "session_resumed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_outage_is_resumed_without_loss() {
    resumes_after(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_second_outage_is_resumed_without_loss() {
    resumes_after(Duration::from_secs(20)).await;
}

/// Past the resume window the session is gone: the server removes Alice from the group, and
/// she joins again as a new member when the network is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_window_the_client_rejoins_as_a_new_member() {
    let access = AccessSettings {
        resume_window_secs: 1,
        ..AccessSettings::default()
    };
    // The server is kept to the end with its data: `..` would drop it here.
    let Outage {
        server: _server,
        alice,
        bob,
        _proxy,
        ..
    } = meeting_with_an_outage(access, Duration::from_secs(3)).await;
    let old_epoch = bob.status().epoch;
    bob.wait_until(Duration::from_secs(10), |s| s.roster.len() == 1)
        .await
        .unwrap_or_else(|s| panic!("alice was never removed: {s:#?}"));
    let status = alice
        .wait_until(Duration::from_secs(15), |s| !s.rejoined_at_ms.is_empty())
        .await
        .unwrap_or_else(|s| panic!("never rejoined: {s:#?}"));
    assert!(status.resumed_at_ms.is_empty());
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    assert!(statuses[1].epoch > old_epoch);
}

/// Sends a client message, numbered or not.
async fn send_raw(socket: &mut Socket, seq: Option<u64>, message: &ClientMessage) {
    let text = match seq {
        Some(seq) => encode_numbered(seq, message),
        None => encode(message),
    };
    socket.send(Message::Text(text.into())).await.unwrap();
}

/// Reads until `pick` returns something; also returns the highest `seq` seen.
async fn read_until<T>(
    socket: &mut Socket,
    last_seq: &mut u64,
    mut pick: impl FnMut(ServerMessage) -> Option<T>,
) -> T {
    loop {
        let Some(Ok(frame)) = socket.next().await else {
            panic!("connection closed");
        };
        let Message::Text(text) = frame else {
            continue;
        };
        let (seq, message) = decode_numbered::<ServerMessage>(&text).unwrap();
        *last_seq = seq.unwrap_or(*last_seq).max(*last_seq);
        if let Some(found) = pick(message) {
            return found;
        }
    }
}

/// A client's own messages are numbered: a resume tells the client the last one the server
/// took, and the server takes each number once, so a message the client sends again after a
/// resume (or the network replays) is not acted on twice.
#[tokio::test]
async fn a_client_message_sent_again_after_a_resume_is_taken_once() {
    let server = TestServer::start().await;
    let mut first = connect(&server).await;
    let join = ClientMessage::Join {
        room: "numbered".into(),
        display_name: "alice".into(),
        password: None,
        moderator_key: None,
        holds_link: true,
        breakout_of: None,
    };
    send_raw(&mut first, None, &join).await;
    let mut last_seq = 0;
    let participant_id = read_until(&mut first, &mut last_seq, |m| match m {
        ServerMessage::Joined { participant_id, .. } => Some(participant_id),
        _ => None,
    })
    .await;
    let token = read_until(&mut first, &mut last_seq, |m| match m {
        ServerMessage::ResumeToken { token, .. } => Some(token),
        _ => None,
    })
    .await;

    // The creator moderates: the lock is taken as message 1.
    send_raw(&mut first, Some(1), &ClientMessage::Lock).await;
    read_until(&mut first, &mut last_seq, |m| {
        matches!(m, ServerMessage::RoomSettings { locked: true, .. }).then_some(())
    })
    .await;
    drop(first); // no goodbye: the session waits for a resume

    let mut second = connect(&server).await;
    let resume = ClientMessage::Resume {
        participant_id,
        resume_token: token,
        last_seq,
    };
    send_raw(&mut second, None, &resume).await;
    let taken = read_until(&mut second, &mut last_seq, |m| match m {
        ServerMessage::Resumed {
            last_client_seq, ..
        } => Some(last_client_seq),
        _ => None,
    })
    .await;
    assert_eq!(taken, 1, "the server says it took message 1");

    // As a client unsure whether message 1 arrived would: sent again, then message 2.
    send_raw(&mut second, Some(1), &ClientMessage::Lock).await;
    send_raw(&mut second, Some(2), &ClientMessage::Unlock).await;
    read_until(&mut second, &mut last_seq, |m| {
        matches!(m, ServerMessage::RoomSettings { locked: false, .. }).then_some(())
    })
    .await;
    // The room answers only once an action's record is on disk, so the unlock's answer means
    // every record before it is there.
    let actions: Vec<String> = server
        .server
        .storage
        .audit_log("numbered")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .filter(|a| a == "room_locked" || a == "room_unlocked")
        .collect();
    let locks = actions.iter().filter(|a| *a == "room_locked").count();
    assert_eq!(
        (locks, actions.len()),
        (1, 2),
        "the lock was taken once: {actions:?}"
    );
}
