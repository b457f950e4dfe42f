//! The media path through a bad network: a UDP relay the test controls sits between the
//! native clients and the SFU (the server advertises the relay's address as its candidate)
//! and loses, duplicates or re-addresses packets. Kernel `netem` is not available on this
//! kind of machine, so the network is played in user space, on loopback.

mod support;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sealroom_client::{
    media::MediaStats,
    session::{JoinOptions, RoomClient},
};
use support::{Proxy, SETTLE, TestServer, client_options, converge, wait_for_media};
use tokio::net::UdpSocket;

/// Where the relay listens: another loopback address, same port as the SFU's.
const RELAY_IP: [u8; 4] = [127, 0, 0, 2];

/// What the network does to each datagram.
#[derive(Debug, Default)]
struct Impairment {
    /// Probability of dropping a datagram, each direction.
    loss: f64,
    /// Every datagram is delivered twice (a replaying network).
    duplicate: bool,
    /// Bumped to give every client a new source address towards the SFU (a NAT rebinding).
    address_generation: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    relayed: u64,
    dropped: u64,
    duplicated: u64,
}

#[derive(Default)]
struct Shared {
    impairment: Mutex<Impairment>,
    counters: Mutex<Counters>,
}

impl Shared {
    /// Whether to send a datagram, and how many times.
    fn copies(&self) -> usize {
        let impairment = self.impairment.lock().unwrap();
        let mut counters = self.counters.lock().unwrap();
        if rand::random::<f64>() < impairment.loss {
            counters.dropped += 1;
            return 0;
        }
        counters.relayed += 1;
        if impairment.duplicate {
            counters.duplicated += 1;
            2
        } else {
            1
        }
    }
}

/// The relay: one front socket the clients send to, and per client one socket towards the
/// SFU, replaced when the address generation changes.
struct Relay {
    shared: Arc<Shared>,
}

impl Relay {
    async fn start(sfu: SocketAddr) -> Relay {
        let front = Arc::new(
            UdpSocket::bind(SocketAddr::new(IpAddr::from(RELAY_IP), sfu.port()))
                .await
                .expect("the relay binds the SFU's port on another loopback address"),
        );
        let shared = Arc::new(Shared::default());
        let relay_shared = shared.clone();
        tokio::spawn(async move {
            let mut upstreams: HashMap<SocketAddr, (u64, Arc<UdpSocket>)> = HashMap::new();
            let mut buf = vec![0; 2000];
            while let Ok((n, client)) = front.recv_from(&mut buf).await {
                let generation = relay_shared.impairment.lock().unwrap().address_generation;
                let stale = upstreams.get(&client).is_none_or(|(g, _)| *g != generation);
                if stale {
                    let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                    tokio::spawn(downstream(
                        upstream.clone(),
                        front.clone(),
                        client,
                        relay_shared.clone(),
                    ));
                    // The old socket's task ends with it: nothing reaches the old address.
                    upstreams.insert(client, (generation, upstream));
                }
                let upstream = &upstreams[&client].1;
                for _ in 0..relay_shared.copies() {
                    let _ = upstream.send_to(&buf[..n], sfu).await;
                }
            }
        });
        Relay { shared }
    }

    fn impair(&self, change: impl FnOnce(&mut Impairment)) {
        change(&mut self.shared.impairment.lock().unwrap());
    }

    fn counters(&self) -> Counters {
        *self.shared.counters.lock().unwrap()
    }
}

/// SFU → client through one upstream socket, until that socket is replaced.
async fn downstream(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0; 2000];
    // Two owners while current: the relay's map and this task.
    while Arc::strong_count(&upstream) > 1 {
        let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(200), upstream.recv_from(&mut buf)).await
        else {
            continue;
        };
        for _ in 0..shared.copies() {
            let _ = front.send_to(&buf[..n], client).await;
        }
    }
}

/// A server whose SFU is reached through a relay, and two members exchanging media through
/// it.
async fn meeting_through_a_relay(room: &str) -> (TestServer, Relay, RoomClient, RoomClient) {
    let server = TestServer::start_configured(|config| {
        config.media.public_ip = Some(IpAddr::from(RELAY_IP));
        config.media.threads = 1;
    })
    .await;
    let relay = Relay::start(server.server.media.udp_addr()).await;
    let alice = server.join(room, "alice").await;
    let bob = server.join(room, "bob").await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let leaf = |i: usize| statuses[i].leaf_index.expect("a leaf");
    wait_for_media(&alice, &[leaf(1)]).await;
    wait_for_media(&bob, &[leaf(0)]).await;
    assert!(relay.counters().relayed > 0, "media goes through the relay");
    (server, relay, alice, bob)
}

/// Frames `receiver` decrypted from its only peer, and frames that peer sent: (audio, video)
/// each.
fn frames(receiver: &MediaStats, sender: &MediaStats) -> ((u64, u64), (u64, u64)) {
    let got = receiver.per_sender.values().next().expect("one sender");
    (
        (got.audio_frames, got.video_frames),
        (sender.audio_frames_sent, sender.video_frames_sent),
    )
}

/// Frames `receiver` decrypted from `sender`, and frames `sender` sent, so far; the
/// receiver counted first, so the window starts no later for it.
async fn window_start(receiver: &RoomClient, sender: &RoomClient) -> ((u64, u64), (u64, u64)) {
    let received = stats(receiver).await;
    frames(&received, &stats(sender).await)
}

async fn stats(client: &RoomClient) -> MediaStats {
    client.media_stats().await.expect("media running")
}

#[tokio::test]
async fn media_survives_loss_and_duplication_on_the_path() {
    let (_server, relay, alice, bob) = meeting_through_a_relay("lossy-path").await;

    // 5 % of datagrams lost in each direction (about 10 % end to end through the SFU), and
    // every surviving datagram delivered twice.
    let before = [
        window_start(&bob, &alice).await,
        window_start(&alice, &bob).await,
    ];
    relay.impair(|i| {
        i.loss = 0.05;
        i.duplicate = true;
    });
    tokio::time::sleep(Duration::from_secs(6)).await;
    relay.impair(|i| *i = Impairment::default());
    // Let retransmissions and the last frames arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counters = relay.counters();

    for ((name, receiver, sender), (got0, sent0)) in
        [("bob", &bob, &alice), ("alice", &alice, &bob)]
            .into_iter()
            .zip(before)
    {
        // The receiver first: everything it counted was sent before the sender's count.
        let received = stats(receiver).await;
        let (got1, sent1) = frames(&received, &stats(sender).await);
        // Duplicates never become extra frames: no frame is shown twice.
        assert!(
            got1.0 <= sent1.0 && got1.1 <= sent1.1,
            "{name}: {got1:?} of {sent1:?}"
        );
        let share = |i: usize| {
            let pick = |f: (u64, u64)| if i == 0 { f.0 } else { f.1 };
            (pick(got1) - pick(got0)) as f64 / (pick(sent1) - pick(sent0)).max(1) as f64
        };
        let (audio, video) = (share(0), share(1));
        println!(
            "{name} under 5 % loss each way, every datagram twice: {:.1} % of audio frames, \
             {:.1} % of video frames; SFrame replays refused: {:?}",
            100.0 * audio,
            100.0 * video,
            received.decrypt_failures.get("replayed"),
        );
        // Audio is not retransmitted: about 10 % is lost. Video is, with NACK and RTX.
        assert!(audio > 0.75, "{name}: audio {audio}");
        assert!(video > 0.85, "{name}: video {video}");
        assert_eq!(received.decrypt_failures.get("authentication_failed"), None);
    }
    println!("relay: {counters:?}");
    assert!(
        counters.dropped > 100 && counters.duplicated > 1000,
        "{counters:?}"
    );
}

/// How long after `changed` video flowed again to bob and to alice (30 frames more than at
/// the change: a few may still have been in flight on the old path), or `None` for a side that
/// got none within [`SETTLE`].
async fn video_flowing_again(
    alice: &RoomClient,
    bob: &RoomClient,
    before: (MediaStats, MediaStats),
    changed: Instant,
) -> [Option<Duration>; 2] {
    let (a0, b0) = before;
    let mut resumed = [None, None];
    while resumed.iter().any(Option::is_none) && changed.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (a1, b1) = (stats(alice).await, stats(bob).await);
        for (slot, before, after) in [(0, &b0, &b1), (1, &a0, &a1)] {
            let video = |s: &MediaStats| s.per_sender.values().next().map_or(0, |s| s.video_frames);
            if resumed[slot].is_none() && video(after) > video(before) + 30 {
                resumed[slot] = Some(changed.elapsed());
            }
        }
    }
    resumed
}

#[tokio::test]
async fn media_follows_a_client_whose_address_changes() {
    let (_server, relay, alice, bob) = meeting_through_a_relay("rebinding").await;

    // Every client's packets now reach the SFU from a new address, as after a NAT rebinding
    // or a switch between networks behind the same relay.
    let before = (stats(&alice).await, stats(&bob).await);
    let changed = Instant::now();
    relay.impair(|i| i.address_generation += 1);
    let resumed = video_flowing_again(&alice, &bob, before, changed).await;
    println!(
        "video flowing again after the address change: bob {:?}, alice {:?}",
        resumed[0], resumed[1]
    );
    assert!(
        resumed.iter().all(Option::is_some),
        "media did not follow the new address"
    );
}

/// The client's own network changes (Wi-Fi to mobile): its old socket is gone, and it
/// restarts ICE from its new address through the server. The same participant, MLS member
/// and peer connection carry on; the gap until video flows both ways again is printed.
#[tokio::test]
async fn ice_restart_from_a_new_network_brings_media_back() {
    let server = TestServer::start().await;
    let alice = server.join("wanderer", "alice").await;
    let bob = server.join("wanderer", "bob").await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let leaf = |i: usize| statuses[i].leaf_index.expect("a leaf");
    wait_for_media(&alice, &[leaf(1)]).await;
    wait_for_media(&bob, &[leaf(0)]).await;

    let before = (stats(&alice).await, stats(&bob).await);
    let changed = Instant::now();
    bob.change_network(IpAddr::from([127, 0, 0, 3]))
        .await
        .expect("ICE restart offered");
    let resumed = video_flowing_again(&alice, &bob, before, changed).await;
    println!(
        "video flowing again after bob's ICE restart from a new network: to bob {:?}, to \
         alice {:?}",
        resumed[0], resumed[1]
    );
    assert!(
        resumed.iter().all(Option::is_some),
        "media did not come back after the ICE restart"
    );
    let after = bob.status();
    assert_eq!(
        (after.participant_id, after.leaf_index, after.epoch),
        (
            statuses[1].participant_id.clone(),
            statuses[1].leaf_index,
            statuses[1].epoch
        ),
        "the same participant and MLS member, no rejoin, no new epoch"
    );
    assert!(after.server_errors.is_empty(), "{:?}", after.server_errors);
    assert!(after.local_errors.is_empty(), "{:?}", after.local_errors);
}

/// Video frames each of the two decrypted from the other so far.
async fn video_received(clients: [&RoomClient; 2]) -> [u64; 2] {
    let mut counts = [0; 2];
    for (count, client) in counts.iter_mut().zip(clients) {
        *count = stats(client)
            .await
            .per_sender
            .values()
            .next()
            .map_or(0, |s| s.video_frames);
    }
    counts
}

/// The whole network goes for `outage`: the media path through the relay, both ways, and
/// alice's signalling connection. Returns the longest gap between two decrypted video frames
/// each way (to alice, to bob) over the outage and until video has flowed again for 30 frames.
/// Within the resume window (30 s), the SFU keeps both participants and their paths.
async fn media_gap_after_an_outage(room: &str, outage: Duration) -> [Duration; 2] {
    let server = TestServer::start_configured(|config| {
        config.media.public_ip = Some(IpAddr::from(RELAY_IP));
        config.media.threads = 1;
    })
    .await;
    let relay = Relay::start(server.server.media.udp_addr()).await;
    let proxy = Proxy::start(server.server.http_addr).await;
    let alice = RoomClient::join(JoinOptions {
        reconnect: true,
        ..client_options(&format!("http://{}", proxy.addr), room, "alice")
    })
    .await
    .unwrap();
    let bob = server.join(room, "bob").await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    wait_for_media(&alice, &[statuses[1].leaf_index.unwrap()]).await;
    wait_for_media(&bob, &[statuses[0].leaf_index.unwrap()]).await;

    let clients = [&alice, &bob];
    let mut last = video_received(clients).await;
    let mut last_change = [Instant::now(); 2];
    let mut gaps = [Duration::ZERO; 2];
    relay.impair(|i| i.loss = 1.0);
    proxy.cut_for(outage);
    let cut_at = Instant::now();
    let mut restored: Option<[u64; 2]> = None;
    while cut_at.elapsed() < outage + SETTLE {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if restored.is_none() && cut_at.elapsed() >= outage {
            relay.impair(|i| i.loss = 0.0);
            restored = Some(last);
        }
        let now = video_received(clients).await;
        for side in 0..2 {
            if now[side] > last[side] {
                gaps[side] = gaps[side].max(last_change[side].elapsed());
                last_change[side] = Instant::now();
            }
        }
        last = now;
        if restored.is_some_and(|at| (0..2).all(|side| last[side] > at[side] + 30)) {
            break;
        }
    }
    assert!(
        restored.is_some_and(|at| (0..2).all(|side| last[side] > at[side] + 30)),
        "video did not flow again both ways after a {outage:?} outage"
    );
    let after = alice.status();
    assert!(
        after.rejoined_at_ms.is_empty(),
        "alice resumed, not rejoined"
    );
    assert_eq!(
        (after.leaf_index, after.epoch),
        (statuses[0].leaf_index, statuses[0].epoch),
        "the same MLS member, no new epoch"
    );
    gaps
}

/// Outages of the whole network of 2 s and 20 s (media and signalling): the meeting carries
/// on in the same session, and the media gap each way is printed (its p95 over these samples is
/// their maximum).
#[tokio::test]
async fn after_whole_network_outages_of_2_and_20_seconds_media_resumes() {
    for (room, outage) in [
        ("outage-2s", Duration::from_secs(2)),
        ("outage-20s", Duration::from_secs(20)),
    ] {
        let gaps = media_gap_after_an_outage(room, outage).await;
        println!(
            "{outage:?} outage: longest gap between video frames to alice {:?}, to bob {:?}",
            gaps[0], gaps[1]
        );
        for gap in gaps {
            assert!(gap >= outage, "the outage stopped media: {gap:?}");
        }
    }
}
