//! Native clients meeting through a real server on 127.0.0.1: MLS through the delivery service,
//! SFrame media through the SFU.

mod support;

use sealroom_server::config::AccessSettings;

use std::time::{Duration, Instant};

use sealroom_client::session::{JoinOptions, RoomClient};
use support::{SETTLE, TestServer, assert_only_members_decrypt, converge, wait_for_media};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_decrypt_each_other_and_rekey_when_one_leaves() {
    let server = TestServer::start().await;
    let alice = server.join("standup", "alice").await;
    let bob = server.join("standup", "bob").await;
    let carol = server.join("standup", "carol").await;

    let statuses = converge(&[&alice, &bob, &carol], &["alice", "bob", "carol"]).await;
    let code = statuses[0].security_code.clone().expect("a code");
    for status in &statuses {
        assert_eq!(status.security_code.as_ref(), Some(&code), "{status:#?}");
    }
    let leaves: Vec<u32> = statuses.iter().map(|s| s.leaf_index.unwrap()).collect();
    for (i, client) in [&alice, &bob, &carol].into_iter().enumerate() {
        let others: Vec<u32> = leaves.iter().copied().filter(|&l| l != leaves[i]).collect();
        wait_for_media(client, &others).await;
    }

    // Carol leaves: Alice and Bob move to a new epoch without her, with a new code.
    let carol_keys = carol.media_keys();
    let carol_epoch = carol.status().epoch;
    carol.leave().await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let new_code = statuses[0].security_code.clone().unwrap();
    assert_ne!(new_code, code);
    assert_eq!(statuses[1].security_code.as_ref(), Some(&new_code));
    assert!(statuses[0].epoch > carol_epoch);

    // What Alice sends now, Carol's keys cannot open.
    assert_only_members_decrypt(&alice, &bob, &carol_keys, b"after carol left");

    // The audit log has every join and leave, and the room vanished with its last participant.
    alice.leave().await;
    bob.leave().await;
    let deadline = Instant::now() + SETTLE;
    loop {
        let records = server
            .server
            .storage
            .audit_records("standup")
            .await
            .unwrap();
        let actions: Vec<&str> = records.iter().map(|(a, _)| a.as_str()).collect();
        // Two leaves at once write their records concurrently, so wait for all of them.
        if actions.contains(&"room_ended")
            && actions.iter().filter(|a| **a == "participant_left").count() == 3
        {
            assert_eq!(
                actions
                    .iter()
                    .filter(|a| **a == "participant_joined")
                    .count(),
                3
            );
            assert_eq!(
                actions.iter().filter(|a| **a == "participant_left").count(),
                3
            );
            assert_eq!(actions.first(), Some(&"room_created"));
            break;
        }
        assert!(Instant::now() < deadline, "audit log: {actions:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_client_is_removed_through_the_external_sender_and_the_others_rekey() {
    // A vanished client's session waits the resume window before it is removed; a short one
    // here (tests/resume.rs covers the wait itself).
    let server = TestServer::start_with_access(AccessSettings {
        resume_window_secs: 1,
        ..AccessSettings::default()
    })
    .await;
    let alice = server.join("vanishing", "alice").await;
    let bob = server.join("vanishing", "bob").await;
    let carol = server.join("vanishing", "carol").await;
    let before = converge(&[&alice, &bob, &carol], &["alice", "bob", "carol"]).await;

    let vanished_at = Instant::now();
    carol.vanish().await;
    let after = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let removal_time = vanished_at.elapsed();
    println!("removal of a vanished client took {removal_time:?}");
    assert!(removal_time < SETTLE);
    assert!(after[0].epoch > before[0].epoch);
    assert_ne!(after[0].security_code, before[0].security_code);
    assert_eq!(after[0].security_code, after[1].security_code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_one_wins_the_other_rebases_and_the_group_converges() {
    let server = TestServer::start().await;
    let alice = server.join("race", "alice").await;
    let bob = server.join("race", "bob").await;
    let start = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let start_epoch = start[0].epoch.unwrap();

    // Both commit a self-update on the same epoch.
    alice.self_update();
    bob.self_update();
    let target = Some(start_epoch + 2);
    let a = alice
        .wait_until(SETTLE, |s| s.epoch == target)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    let b = bob
        .wait_until(SETTLE, |s| s.epoch == target)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    assert_eq!(a.security_code, b.security_code, "the group converged");
    assert_eq!(
        a.commits_accepted + b.commits_accepted
            - start[0].commits_accepted
            - start[1].commits_accepted,
        2
    );
    assert!(
        a.commits_rejected + b.commits_rejected >= 1,
        "exactly one commit won the first epoch; the other was told to rebase"
    );
}

/// The curious server: everything the SFU forwards is captured. Audio frames (one per RTP
/// packet) are complete SFrame frames from room members and never the synthetic plaintext the
/// clients encrypted, while the receivers do decrypt exactly that plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curious_server_captures_only_ciphertext() {
    use std::sync::{Arc, Mutex};

    use sealroom_client::media::is_synthetic_plaintext;
    use sealroom_e2ee::sframe::{EPOCH_BITS, Header};
    use str0m::media::MediaKind;

    let server = TestServer::start().await;
    let captured: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = captured.clone();
    server
        .server
        .media
        .set_payload_tap(Some(Box::new(move |payload: &[u8]| {
            let mut sink = sink.lock().unwrap();
            if sink.len() < 50_000 {
                sink.push(payload.to_vec());
            }
        })));
    let alice = server.join("curious", "alice").await;
    let bob = server.join("curious", "bob").await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    wait_for_media(&alice, &[statuses[1].leaf_index.unwrap()]).await;
    wait_for_media(&bob, &[statuses[0].leaf_index.unwrap()]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.server.media.set_payload_tap(None);

    let captured = captured.lock().unwrap().clone();
    assert!(
        captured.len() > 100,
        "the tap saw the media: {}",
        captured.len()
    );
    let members = [
        statuses[0].leaf_index.unwrap(),
        statuses[1].leaf_index.unwrap(),
    ];
    let mut audio_frames = 0;
    for payload in &captured {
        assert!(!is_synthetic_plaintext(MediaKind::Audio, payload));
        assert!(!is_synthetic_plaintext(MediaKind::Video, payload));
        // An audio packet is a whole SFrame frame with no clear prefix.
        if let Some((&0, frame)) = payload.split_last()
            && payload.len() < 200
            && let Ok((header, _)) = Header::decode(frame)
        {
            let sender = u32::try_from(header.kid >> EPOCH_BITS).unwrap();
            assert!(
                members.contains(&sender),
                "KID names a member: {}",
                header.kid
            );
            audio_frames += 1;
        }
    }
    assert!(audio_frames > 50, "audio frames seen: {audio_frames}");
    for client in [&alice, &bob] {
        let stats = client.media_stats().await.unwrap();
        assert!(
            stats.per_sender.values().all(|s| s.payload_intact),
            "receivers decrypted the exact plaintext"
        );
    }
}

/// Alice opens a room by typing its name: her client makes the room link as it founds the
/// group. Carol, sent that link, is added without anyone's admission; Bob, who only typed the
/// name, waits in the lobby (the room has none of its own) until Alice admits him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_room_gets_a_link_and_whoever_lacks_it_waits_for_admission() {
    let server = TestServer::start().await;
    let typed = |name: &str| JoinOptions {
        link: None,
        ..server.join_options("typed-name", name)
    };
    let alice = RoomClient::join(typed("alice")).await.unwrap();
    let new_link = alice
        .wait_until(SETTLE, |s| s.new_link.is_some())
        .await
        .unwrap()
        .new_link;
    let carol = RoomClient::join(JoinOptions {
        link: new_link,
        ..typed("carol")
    })
    .await
    .unwrap();
    converge(&[&alice, &carol], &["alice", "carol"]).await;

    let bob = RoomClient::join(typed("bob")).await.unwrap();
    bob.wait_until(SETTLE, |s| s.in_lobby && !s.waiting_for_moderator)
        .await
        .unwrap_or_else(|s| panic!("Bob is not in the lobby: {s:#?}"));
    let lobby = alice
        .wait_until(SETTLE, |s| s.lobby.iter().any(|p| p.fingerprint.is_some()))
        .await
        .unwrap()
        .lobby;
    assert!(carol.status().roster.len() == 2, "nobody added Bob unasked");
    alice.admit(&lobby[0].id);
    let statuses = converge(&[&alice, &bob, &carol], &["alice", "bob", "carol"]).await;
    for status in &statuses {
        assert!(status.warnings.is_empty(), "{:?}", status.warnings);
    }
}
