//! The media engine against a minimal in-test SFU: an ICE-lite str0m peer per client on one
//! 127.0.0.1 socket that forwards each client's frames, unchanged, to the others (the "h" layer
//! only when simulcast), and remembers every frame it saw on the wire.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_client::media::{Media, MediaConfig, MediaError, SyntheticMedia};
use sealroom_e2ee::sframe::{CipherSuite, MediaKeyring};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::CodecExtra;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
const EPOCH: u64 = 1;
const BASE_KEY: [u8; 16] = [0x5e; 16];
const OTHER_BASE_KEY: [u8; 16] = [0x77; 16];
const TIMEOUT: Duration = Duration::from_secs(6);

const AUDIO_AND_VIDEO: SyntheticMedia = SyntheticMedia {
    audio: true,
    video: true,
    simulcast: false,
};

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_decrypt_each_other_through_the_relay() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let (alice, alice_id) =
        connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;
    let (bob, bob_id) = connect(&relay, Some(AUDIO_AND_VIDEO), keyring(2, BASE_KEY), origin).await;
    forward_tracks(&relay, alice_id, &alice, 2).await;
    forward_tracks(&relay, bob_id, &bob, 2).await;

    let received_from = |media: &Media, leaf: u32| {
        media
            .stats()
            .per_sender
            .get(&leaf)
            .is_some_and(|s| s.audio_frames >= 25 && s.video_frames >= 15)
    };
    eventually("both receive audio and video from the other", async || {
        received_from(&alice, 2) && received_from(&bob, 1)
    })
    .await;

    for (media, other) in [(&alice, 2), (&bob, 1)] {
        let stats = media.stats();
        assert_eq!(
            stats.per_sender.keys().copied().collect::<Vec<_>>(),
            [other]
        );
        let sender = &stats.per_sender[&other];
        assert!(sender.payload_intact, "{stats:?}");
        assert_eq!(sender.last_epoch, EPOCH);
        assert!(sender.bytes > 15 * 3_000, "{stats:?}");
        assert!(stats.decrypt_failures.is_empty(), "{stats:?}");
        assert!(
            stats
                .first_decrypted_at
                .is_some_and(|t| t < origin.elapsed())
        );
        assert!(stats.ice_connected);
        assert!(stats.audio_frames_sent > 0 && stats.video_frames_sent > 0);
        assert!(stats.keyframes_sent >= 1);
        assert_eq!(stats.frames_dropped_no_key, 0);
        assert_eq!(stats.frames_dropped_unsendable, 0);

        let json = serde_json::to_value(&stats).expect("stats serialize");
        assert_eq!(
            json["per_sender"][other.to_string()]["payload_intact"],
            true
        );
    }

    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_leaves_the_client_unprotected() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let (alice, alice_id) =
        connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;

    eventually("the relay sees audio and video", async || {
        let seen = relay.seen().await;
        count(&seen, alice_id, MediaKind::Audio) >= 50
            && count(&seen, alice_id, MediaKind::Video) >= 30
    })
    .await;

    // The relay holds the group key only to check what crossed the wire.
    let wire_keys = keyring(9, BASE_KEY);
    let seen = relay.seen().await;
    for frame in &seen {
        let clear = wire_keys
            .lock()
            .unwrap()
            .unprotect(Duration::ZERO, &frame.data)
            .expect("every frame on the wire is SFrame-protected under the group key");
        assert_eq!(clear.sender_index, 1);
        let expected_clear = match (frame.kind, frame.keyframe) {
            (MediaKind::Audio, _) => 0,
            (MediaKind::Video, true) => 10,
            (MediaKind::Video, false) => 3,
        };
        assert_eq!(clear.clear_prefix_len, expected_clear, "{:?}", frame.kind);
        assert_eq!(
            frame.data[..expected_clear],
            clear.payload[..expected_clear]
        );
    }
    assert!(
        seen.iter().any(|f| f.keyframe),
        "the SFU tells key frames from the clear VP8 header"
    );

    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_without_an_epoch_sends_nothing() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let keys = Arc::new(Mutex::new(MediaKeyring::new(SUITE)));
    let (offer, alice) = start(Some(AUDIO_AND_VIDEO), keys.clone(), origin).await;
    let (alice_id, answer) = relay.join(offer).await;
    alice.accept_answer(&answer).await.expect("answer accepted");
    assert!(matches!(
        alice.accept_answer(&answer).await,
        Err(MediaError::NoPendingOffer)
    ));

    eventually("frames are produced and dropped", async || {
        let stats = alice.stats();
        stats.ice_connected && stats.frames_dropped_no_key >= 20
    })
    .await;
    let stats = alice.stats();
    assert_eq!((stats.audio_frames_sent, stats.video_frames_sent), (0, 0));
    assert!(relay.seen().await.is_empty(), "nothing reached the SFU");

    keys.lock()
        .unwrap()
        .install_epoch(origin.elapsed(), EPOCH, &BASE_KEY, 1)
        .unwrap();
    eventually("video flows once the epoch is installed", async || {
        count(&relay.seen().await, alice_id, MediaKind::Video) >= 1
    })
    .await;
    let seen = relay.seen().await;
    let first_video = seen.iter().find(|f| f.kind == MediaKind::Video).unwrap();
    assert!(
        first_video.keyframe,
        "frames dropped for want of a key make the first one sent a key frame"
    );
    let wire_keys = keyring(9, BASE_KEY);
    for frame in &seen {
        assert!(
            wire_keys
                .lock()
                .unwrap()
                .unprotect(Duration::ZERO, &frame.data)
                .is_ok()
        );
    }

    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_with_another_epoch_secret_decrypts_nothing() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let (alice, _) = connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;
    let (mallory, mallory_id) = connect(&relay, None, keyring(2, OTHER_BASE_KEY), origin).await;
    forward_tracks(&relay, mallory_id, &mallory, 2).await;

    eventually("the frames arrive", async || {
        mallory
            .stats()
            .decrypt_failures
            .get("authentication_failed")
            .is_some_and(|n| *n >= 40)
    })
    .await;
    let stats = mallory.stats();
    assert!(stats.per_sender.is_empty(), "{stats:?}");
    assert_eq!(stats.first_decrypted_at, None);
    assert_eq!(
        stats.decrypt_failures.keys().collect::<Vec<_>>(),
        ["authentication_failed"]
    );

    alice.stop().await;
    mallory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_layers_reach_the_sfu_with_visible_key_frames() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let publish = SyntheticMedia {
        audio: false,
        video: true,
        simulcast: true,
    };
    let (alice, alice_id) = connect(&relay, Some(publish), keyring(1, BASE_KEY), origin).await;
    let (bob, bob_id) = connect(&relay, None, keyring(2, BASE_KEY), origin).await;
    forward_tracks(&relay, bob_id, &bob, 1).await;

    let layer = |seen: &[SeenFrame], rid: &str| -> Vec<SeenFrame> {
        seen.iter()
            .filter(|f| f.from == alice_id && f.rid == Some(Rid::from(rid)))
            .cloned()
            .collect()
    };
    eventually(
        "both layers reach the relay and h reaches bob",
        async || {
            let seen = relay.seen().await;
            layer(&seen, "h").len() >= 20
                && layer(&seen, "l").len() >= 20
                && bob
                    .stats()
                    .per_sender
                    .get(&1)
                    .is_some_and(|s| s.video_frames >= 10)
        },
    )
    .await;

    let seen = relay.seen().await;
    assert!(
        seen.iter().all(|f| f.rid.is_some()),
        "every frame names its layer"
    );
    let (high, low) = (layer(&seen, "h"), layer(&seen, "l"));
    assert!(high.iter().any(|f| f.keyframe) && low.iter().any(|f| f.keyframe));
    let average_delta = |frames: &[SeenFrame]| {
        let deltas: Vec<_> = frames.iter().filter(|f| !f.keyframe).collect();
        deltas.iter().map(|f| f.data.len()).sum::<usize>() as f64 / deltas.len() as f64
    };
    let ratio = average_delta(&low) / average_delta(&high);
    assert!((0.15..0.35).contains(&ratio), "l/h size ratio {ratio}");

    let stats = bob.stats();
    assert!(stats.per_sender[&1].payload_intact, "{stats:?}");
    assert!(stats.decrypt_failures.is_empty(), "{stats:?}");
    assert!(alice.stats().video_frames_sent >= 40);

    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_declined_by_the_sfu_sends_the_full_layer_alone() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let publish = SyntheticMedia {
        audio: false,
        video: true,
        simulcast: true,
    };
    let (offer, alice) = start(Some(publish), keyring(1, BASE_KEY), origin).await;
    // An SFU without simulcast support ignores the rid and simulcast lines.
    let offer: String = offer
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("a=rid:") && !line.starts_with("a=simulcast:"))
        .collect();
    let (alice_id, answer) = relay.join(offer).await;
    alice.accept_answer(&answer).await.expect("answer accepted");

    eventually("video reaches the relay", async || {
        count(&relay.seen().await, alice_id, MediaKind::Video) >= 20
    })
    .await;
    let seen = relay.seen().await;
    assert!(seen.iter().all(|f| f.rid.is_none()));
    let first = &seen[0];
    assert!(
        first.keyframe && first.data.len() > 15_000,
        "a full-size key frame"
    );
    let stats = alice.stats();
    assert_eq!(stats.frames_dropped_unsendable, 0, "{stats:?}");

    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_request_from_the_sfu_is_honoured() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let publish = SyntheticMedia {
        audio: false,
        video: true,
        simulcast: false,
    };
    let (alice, alice_id) = connect(&relay, Some(publish), keyring(1, BASE_KEY), origin).await;

    eventually("video reaches the relay", async || {
        count(&relay.seen().await, alice_id, MediaKind::Video) >= 5
    })
    .await;
    assert!(relay.request_keyframe(alice_id).await, "PLI sent");
    eventually("a second key frame arrives", async || {
        relay.seen().await.iter().filter(|f| f.keyframe).count() >= 2
    })
    .await;

    let seen = relay.seen().await;
    let second = seen
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .nth(1)
        .map(|(i, _)| i)
        .unwrap();
    assert!(
        second < 60,
        "key frame {second} came on request, not on schedule"
    );
    assert!(alice.stats().keyframes_sent >= 2);

    alice.stop().await;
}

#[tokio::test]
async fn misuse_is_refused_with_a_reason() {
    let keys = Arc::new(Mutex::new(MediaKeyring::new(CipherSuite::AesGcm256Sha512)));
    let config = MediaConfig {
        bind_ip: Ipv4Addr::LOCALHOST.into(),
        publish: None,
        suite: SUITE,
    };
    let refused = Media::start(config.clone(), keys, Instant::now()).await;
    assert!(matches!(refused, Err(MediaError::SuiteMismatch { .. })));

    let (media, offer) = Media::start(config, keyring(1, BASE_KEY), Instant::now())
        .await
        .unwrap();
    assert!(
        offer.contains("m=application"),
        "receive-only offers a data channel"
    );
    assert!(matches!(
        media.accept_answer("not sdp").await,
        Err(MediaError::InvalidSdp(_))
    ));
    assert!(matches!(
        media.accept_offer("v=0\r\n").await,
        Err(MediaError::InvalidSdp(_))
    ));
    media.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn keyring(leaf: u32, base_key: [u8; 16]) -> Arc<Mutex<MediaKeyring>> {
    let mut keys = MediaKeyring::new(SUITE);
    keys.install_epoch(Duration::ZERO, EPOCH, &base_key, leaf)
        .unwrap();
    Arc::new(Mutex::new(keys))
}

async fn start(
    publish: Option<SyntheticMedia>,
    keys: Arc<Mutex<MediaKeyring>>,
    origin: Instant,
) -> (String, Media) {
    let config = MediaConfig {
        bind_ip: Ipv4Addr::LOCALHOST.into(),
        publish,
        suite: SUITE,
    };
    let (media, offer) = Media::start(config, keys, origin)
        .await
        .expect("media starts");
    (offer, media)
}

/// Starts a client and joins it to the relay; returns it with its id at the relay.
async fn connect(
    relay: &Relay,
    publish: Option<SyntheticMedia>,
    keys: Arc<Mutex<MediaKeyring>>,
    origin: Instant,
) -> (Media, usize) {
    let (offer, media) = start(publish, keys, origin).await;
    let (id, answer) = relay.join(offer).await;
    media.accept_answer(&answer).await.expect("answer accepted");
    (media, id)
}

/// Renegotiates so client `to` receives the other clients' `tracks` tracks. str0m tells the
/// relay about a client's tracks only once that client is connected, hence the wait.
async fn forward_tracks(relay: &Relay, to: usize, media: &Media, tracks: usize) {
    let mut offer = None;
    eventually("the relay knows the tracks to forward", async || {
        offer = relay.offer_tracks(to, tracks).await;
        offer.is_some()
    })
    .await;
    let offer = offer.expect("tracks to offer");
    let answer = media.accept_offer(&offer).await.expect("offer accepted");
    relay.accept_answer(to, answer).await;
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(seen: &[SeenFrame], from: usize, kind: MediaKind) -> usize {
    seen.iter()
        .filter(|f| f.from == from && f.kind == kind)
        .count()
}

// ---------------------------------------------------------------------------------------------
// The relay

/// A frame as the relay saw it on the wire.
#[derive(Debug, Clone)]
struct SeenFrame {
    from: usize,
    kind: MediaKind,
    rid: Option<Rid>,
    /// str0m's VP8 key frame detection, which reads the clear frame tag.
    keyframe: bool,
    data: Arc<[u8]>,
}

enum RelayCommand {
    Join(String, oneshot::Sender<(usize, String)>),
    OfferTracks(usize, usize, oneshot::Sender<Option<String>>),
    AcceptAnswer(usize, String, oneshot::Sender<()>),
    RequestKeyframe(usize, oneshot::Sender<bool>),
    Seen(oneshot::Sender<Vec<SeenFrame>>),
}

struct Relay {
    commands: mpsc::UnboundedSender<RelayCommand>,
}

impl Relay {
    async fn start() -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(RelayLoop::new(socket).run(rx));
        Self { commands }
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> RelayCommand) -> T {
        let (reply, response) = oneshot::channel();
        self.commands.send(command(reply)).unwrap();
        response.await.expect("relay alive")
    }

    async fn join(&self, offer: String) -> (usize, String) {
        self.ask(|r| RelayCommand::Join(offer, r)).await
    }

    /// An offer of the other clients' tracks to `to`, once it knows at least `tracks` of them.
    async fn offer_tracks(&self, to: usize, tracks: usize) -> Option<String> {
        self.ask(|r| RelayCommand::OfferTracks(to, tracks, r)).await
    }

    async fn accept_answer(&self, to: usize, answer: String) {
        self.ask(|r| RelayCommand::AcceptAnswer(to, answer, r))
            .await
    }

    async fn request_keyframe(&self, from: usize) -> bool {
        self.ask(|r| RelayCommand::RequestKeyframe(from, r)).await
    }

    async fn seen(&self) -> Vec<SeenFrame> {
        self.ask(RelayCommand::Seen).await
    }
}

struct RelayPeer {
    rtc: Rtc,
    /// Media this peer sends us.
    tracks_in: Vec<(Mid, MediaKind)>,
    /// (origin peer, origin mid, our mid towards this peer).
    tracks_out: Vec<(usize, Mid, Mid)>,
    pending: Option<SdpPendingOffer>,
}

struct RelayLoop {
    socket: UdpSocket,
    addr: SocketAddr,
    peers: Vec<RelayPeer>,
    seen: Vec<SeenFrame>,
}

impl RelayLoop {
    fn new(socket: UdpSocket) -> Self {
        let addr = socket.local_addr().unwrap();
        Self {
            socket,
            addr,
            peers: Vec::new(),
            seen: Vec::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<RelayCommand>) {
        let mut buf = vec![0; 2000];
        loop {
            let deadline = self.poll_all();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => return,
                },
                received = self.socket.recv_from(&mut buf) => {
                    let Ok((len, source)) = received else { continue };
                    let Ok(contents) = DatagramRecv::try_from(&buf[..len]) else { continue };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: self.addr, contents },
                    );
                    if let Some(peer) = self.peers.iter_mut().find(|p| p.rtc.accepts(&input)) {
                        let _ = peer.rtc.handle_input(input);
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            for peer in &mut self.peers {
                let _ = peer.rtc.handle_input(Input::Timeout(now));
            }
        }
    }

    /// Polls every peer until it waits, forwarding media; returns the next deadline.
    fn poll_all(&mut self) -> Instant {
        loop {
            let mut deadline = Instant::now() + Duration::from_millis(100);
            let mut incoming = Vec::new();
            for (index, peer) in self.peers.iter_mut().enumerate() {
                while peer.rtc.is_alive() {
                    match peer.rtc.poll_output() {
                        Ok(Output::Timeout(at)) => {
                            deadline = deadline.min(at);
                            break;
                        }
                        Ok(Output::Transmit(t)) => {
                            let _ = self.socket.try_send_to(&t.contents, t.destination);
                        }
                        Ok(Output::Event(Event::MediaAdded(added)))
                            if added.direction == Direction::RecvOnly =>
                        {
                            peer.tracks_in.push((added.mid, added.kind));
                        }
                        Ok(Output::Event(Event::MediaData(data))) => incoming.push((index, data)),
                        Ok(Output::Event(_)) => {}
                        Err(_) => peer.rtc.disconnect(),
                    }
                }
            }
            if incoming.is_empty() {
                return deadline;
            }
            for (from, data) in incoming {
                self.forward(from, data);
            }
        }
    }

    fn forward(&mut self, from: usize, data: MediaData) {
        let kind = self.peers[from]
            .tracks_in
            .iter()
            .find(|(mid, _)| *mid == data.mid)
            .map_or(MediaKind::Audio, |(_, kind)| *kind);
        let keyframe = matches!(data.codec_extra, CodecExtra::Vp8(extra) if extra.is_keyframe);
        self.seen.push(SeenFrame {
            from,
            kind,
            rid: data.rid,
            keyframe,
            data: data.data.clone(),
        });
        if data.rid.is_some_and(|rid| rid != Rid::from("h")) {
            return;
        }
        for peer in &mut self.peers {
            let Some(&(_, _, mid)) = peer
                .tracks_out
                .iter()
                .find(|(origin, origin_mid, _)| *origin == from && *origin_mid == data.mid)
            else {
                continue;
            };
            let Some(writer) = peer.rtc.writer(mid) else {
                continue;
            };
            let Some(pt) = writer.match_params(data.params) else {
                continue;
            };
            let _ = writer.write(pt, data.network_time, data.time, data.data.clone());
        }
    }

    fn handle(&mut self, command: RelayCommand) {
        match command {
            RelayCommand::Join(offer, reply) => {
                let mut rtc = Rtc::builder().set_ice_lite(true).build(Instant::now());
                rtc.add_local_candidate(Candidate::host(self.addr, "udp").unwrap());
                let offer = SdpOffer::from_sdp_string(&offer).unwrap();
                let answer = rtc.sdp_api().accept_offer(offer).unwrap();
                self.peers.push(RelayPeer {
                    rtc,
                    tracks_in: Vec::new(),
                    tracks_out: Vec::new(),
                    pending: None,
                });
                let _ = reply.send((self.peers.len() - 1, answer.to_sdp_string()));
            }
            RelayCommand::OfferTracks(to, tracks, reply) => {
                let others: Vec<(usize, Mid, MediaKind)> = self
                    .peers
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| *index != to)
                    .flat_map(|(index, p)| p.tracks_in.iter().map(move |(m, k)| (index, *m, *k)))
                    .collect();
                if others.len() < tracks {
                    let _ = reply.send(None);
                    return;
                }
                let peer = &mut self.peers[to];
                let mut change = peer.rtc.sdp_api();
                for (origin, origin_mid, kind) in others {
                    let mid = change.add_media(kind, Direction::SendOnly, None, None, None);
                    peer.tracks_out.push((origin, origin_mid, mid));
                }
                let offer = change.apply().map(|(offer, pending)| {
                    peer.pending = Some(pending);
                    offer.to_sdp_string()
                });
                let _ = reply.send(offer);
            }
            RelayCommand::AcceptAnswer(to, answer, reply) => {
                let peer = &mut self.peers[to];
                let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
                let pending = peer.pending.take().unwrap();
                peer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
                let _ = reply.send(());
            }
            RelayCommand::RequestKeyframe(from, reply) => {
                let peer = &mut self.peers[from];
                let video = peer.tracks_in.iter().find(|(_, k)| *k == MediaKind::Video);
                let requested = video.is_some_and(|&(mid, _)| {
                    peer.rtc.writer(mid).is_some_and(|mut w| {
                        w.request_keyframe(None, KeyframeRequestKind::Pli).is_ok()
                    })
                });
                let _ = reply.send(requested);
            }
            RelayCommand::Seen(reply) => {
                let _ = reply.send(self.seen.clone());
            }
        }
    }
}
