//! The media driver over real sockets on 127.0.0.1: str0m clients connect to the SFU's UDP
//! port (and its ICE-TCP port) and exchange media through it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_server::media::{IceTcpLimits, MediaConfig, MediaEvent, MediaServer};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// How a test client reaches the SFU.
enum Link {
    Udp(UdpSocket),
    /// ICE-TCP: frames read by a helper task (a half-read frame must survive `select!`).
    Tcp {
        writer: OwnedWriteHalf,
        incoming: mpsc::Receiver<Vec<u8>>,
        server: SocketAddr,
    },
}

/// A client that sends one small Opus-sized frame every 20 ms and keeps what it receives.
struct Peer {
    name: &'static str,
    rtc: Rtc,
    link: Link,
    local: SocketAddr,
    audio: Option<Mid>,
    connected: bool,
    sent: Vec<Vec<u8>>,
    received: Vec<Vec<u8>>,
    frames: u64,
    next_frame: Instant,
    /// The port of the SFU's UDP candidate in its answer: which media thread serves us.
    sfu_port: Option<u16>,
}

impl Peer {
    async fn udp(name: &'static str) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("local address");
        let candidate = Candidate::host(local, "udp").expect("candidate");
        Peer::new(name, Link::Udp(socket), local, candidate)
    }

    async fn tcp(name: &'static str, server: SocketAddr) -> Peer {
        let stream = TcpStream::connect(server).await.expect("connect");
        let local = stream.local_addr().expect("local address");
        let (mut reader, writer) = stream.into_split();
        let (frames, incoming) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Ok(len) = reader.read_u16().await {
                let mut frame = vec![0; usize::from(len)];
                if reader.read_exact(&mut frame).await.is_err() || frames.send(frame).await.is_err()
                {
                    break;
                }
            }
        });
        let candidate = Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(TcpType::Active)
            .build()
            .expect("candidate");
        let link = Link::Tcp {
            writer,
            incoming,
            server,
        };
        Peer::new(name, link, local, candidate)
    }

    fn new(name: &'static str, link: Link, local: SocketAddr, candidate: Candidate) -> Peer {
        let now = Instant::now();
        let mut rtc = Rtc::new(now);
        rtc.add_local_candidate(candidate);
        Peer {
            name,
            rtc,
            link,
            local,
            audio: None,
            connected: false,
            sent: Vec::new(),
            received: Vec::new(),
            frames: 0,
            next_frame: now,
            sfu_port: None,
        }
    }

    async fn join(&mut self, media: &MediaServer, room: &str) {
        let mut change = self.rtc.sdp_api();
        self.audio =
            Some(change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None));
        let (offer, pending) = change.apply().expect("offer");
        let answer = media
            .add_participant(room, self.name, &offer.to_sdp_string())
            .await
            .expect("SFU answers");
        // As the server does for a member of the room's group.
        media
            .set_receives_media(self.name, true)
            .await
            .expect("a participant of the SFU");
        // a=candidate:<foundation> <component> udp <priority> <ip> <port> typ host
        self.sfu_port = answer
            .lines()
            .filter_map(|line| line.strip_prefix("a=candidate:"))
            .map(|c| c.split_whitespace().collect::<Vec<_>>())
            .find(|c| c.get(2).is_some_and(|p| p.eq_ignore_ascii_case("udp")))
            .and_then(|c| c.get(5)?.parse().ok());
        let answer = SdpAnswer::from_sdp_string(&answer).expect("answer parses");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer applies");
        self.drain().await;
    }

    async fn answer(&mut self, media: &MediaServer, sdp: &str) {
        let offer = SdpOffer::from_sdp_string(sdp).expect("offer parses");
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("offer applies");
        self.drain().await;
        media
            .accept_answer(self.name, &answer.to_sdp_string())
            .await
            .expect("SFU takes the answer");
    }

    /// Sends everything str0m has to send and keeps received frames.
    async fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("poll") {
                Output::Timeout(_) => break,
                Output::Transmit(t) => match &mut self.link {
                    Link::Udp(socket) => {
                        let _ = socket.send_to(&t.contents, t.destination).await;
                    }
                    Link::Tcp { writer, .. } => {
                        let len = u16::try_from(t.contents.len()).expect("small packet");
                        let mut frame = len.to_be_bytes().to_vec();
                        frame.extend_from_slice(&t.contents);
                        writer.write_all(&frame).await.expect("TCP write");
                    }
                },
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(data)) => self.received.push(data.data.to_vec()),
                Output::Event(_) => {}
            }
        }
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        self.rtc.handle_input(Input::Timeout(now)).expect("timeout");
        if let Some(mid) = self.audio
            && self.connected
            && now >= self.next_frame
        {
            self.next_frame = now + Duration::from_millis(20);
            let mut frame = format!("{}:{}:", self.name, self.frames).into_bytes();
            frame.resize(60, 0x5a);
            self.frames += 1;
            // None once the SFU closed the connection.
            let Some(writer) = self.rtc.writer(mid) else {
                return;
            };
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus)
                .expect("Opus")
                .pt();
            let time = MediaTime::new(self.frames * 960, Frequency::FORTY_EIGHT_KHZ);
            writer.write(pt, now, time, frame.clone()).expect("write");
            self.sent.push(frame);
        }
        self.drain().await;
    }

    /// The next packet from the network.
    async fn receive(&mut self) -> (SocketAddr, Vec<u8>) {
        match &mut self.link {
            Link::Udp(socket) => {
                let mut buf = vec![0; 2000];
                let (n, source) = socket.recv_from(&mut buf).await.expect("receive");
                buf.truncate(n);
                (source, buf)
            }
            Link::Tcp {
                incoming, server, ..
            } => match incoming.recv().await {
                Some(frame) => (*server, frame),
                None => std::future::pending().await,
            },
        }
    }

    async fn handle(&mut self, source: SocketAddr, contents: Vec<u8>) {
        let proto = match self.link {
            Link::Udp(_) => Protocol::Udp,
            Link::Tcp { .. } => Protocol::Tcp,
        };
        let Ok(contents) = contents.as_slice().try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto,
                source,
                destination: self.local,
                contents,
            },
        );
        self.rtc.handle_input(input).expect("input");
        self.drain().await;
    }
}

/// Runs two clients and the signalling between them and the SFU until `done` or 10 s.
async fn run_until(
    media: &MediaServer,
    events: &mut mpsc::UnboundedReceiver<MediaEvent>,
    peers: &mut [Peer; 2],
    done: impl Fn(&[Peer; 2]) -> bool,
) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && !done(peers) {
        for peer in peers.iter_mut() {
            peer.tick().await;
        }
        while let Ok(MediaEvent::Offer { participant, sdp }) = events.try_recv() {
            if let Some(peer) = peers.iter_mut().find(|p| p.name == participant) {
                peer.answer(media, &sdp).await;
            }
        }
        let [a, b] = peers;
        tokio::select! {
            (source, data) = a.receive() => a.handle(source, data).await,
            (source, data) = b.receive() => b.handle(source, data).await,
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
    done(peers)
}

/// Every frame one peer received is one the other sent, and there are enough of them.
fn exchanged(peers: &[Peer; 2], at_least: usize) -> bool {
    let [a, b] = peers;
    [(a, b), (b, a)].iter().all(|(to, from)| {
        to.received.len() >= at_least && to.received.iter().all(|f| from.sent.contains(f))
    })
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn media_flows_between_clients_over_udp() {
    let (media, mut events) = MediaServer::start(MediaConfig {
        udp_listen: local(0),
        public_ip: None,
        tcp_listen: None,
        tcp_limits: IceTcpLimits::default(),
        max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
        threads: 1,
    })
    .expect("media server starts");
    assert_ne!(media.udp_addr().port(), 0);
    let tapped: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let tap = tapped.clone();
    media.set_payload_tap(Some(Box::new(move |payload: &[u8]| {
        tap.lock().expect("tap").push(payload.to_vec());
    })));

    let mut peers = [Peer::udp("alice").await, Peer::udp("bob").await];
    for peer in &mut peers {
        peer.join(&media, "room").await;
    }
    let flowed = run_until(&media, &mut events, &mut peers, |p| exchanged(p, 25)).await;
    assert!(
        flowed,
        "alice got {}, bob got {} frames",
        peers[0].received.len(),
        peers[1].received.len()
    );

    let stats = media.stats();
    assert_eq!(
        (stats.participants, stats.rooms, stats.published_tracks),
        (2, 1, 2)
    );
    assert!(stats.forwarded_packets >= 50, "{stats:?}");
    assert!(stats.forwarded_bytes >= 50 * 60);
    let tapped = tapped.lock().expect("tap").clone();
    assert!(!tapped.is_empty());
    let sent: Vec<&Vec<u8>> = peers.iter().flat_map(|p| &p.sent).collect();
    assert!(
        tapped.iter().all(|payload| sent.contains(&payload)),
        "the tap sees the frames as sent"
    );

    // Bob answers the offer that stops alice's track; then nothing of hers is left.
    media.remove_participant("alice");
    let handle = media.clone();
    let freed = run_until(&media, &mut events, &mut peers, move |_| {
        let stats = handle.stats();
        (
            stats.participants,
            stats.published_tracks,
            stats.subscriptions,
        ) == (1, 1, 0)
    })
    .await;
    assert!(freed, "{:?}", media.stats());
}

#[tokio::test]
async fn rooms_spread_over_media_threads_and_media_stays_in_its_room() {
    let (media, mut events) = MediaServer::start(MediaConfig {
        udp_listen: local(0),
        public_ip: None,
        tcp_listen: None,
        tcp_limits: IceTcpLimits::default(),
        max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
        threads: 2,
    })
    .expect("media server starts");
    let ports: Vec<u16> = media.udp_addrs().iter().map(SocketAddr::port).collect();
    assert_eq!(ports.len(), 2);

    let mut first = [Peer::udp("alice").await, Peer::udp("bob").await];
    for peer in &mut first {
        peer.join(&media, "first").await;
    }
    assert!(run_until(&media, &mut events, &mut first, |p| exchanged(p, 25)).await);
    let mut second = [Peer::udp("carol").await, Peer::udp("dave").await];
    for peer in &mut second {
        peer.join(&media, "second").await;
    }
    // `exchanged` also checks that each received only what its room-mate sent.
    assert!(run_until(&media, &mut events, &mut second, |p| exchanged(p, 25)).await);

    let port_of = |peer: &Peer| peer.sfu_port.expect("a UDP candidate in the answer");
    assert_eq!(
        port_of(&first[0]),
        port_of(&first[1]),
        "a room stays on one thread"
    );
    assert_eq!(port_of(&second[0]), port_of(&second[1]));
    assert_ne!(
        port_of(&first[0]),
        port_of(&second[0]),
        "two rooms, two threads"
    );
    assert!(ports.contains(&port_of(&first[0])) && ports.contains(&port_of(&second[0])));
    let stats = media.stats();
    assert_eq!((stats.participants, stats.rooms), (4, 2), "{stats:?}");

    // Controls reach the thread the participant is on.
    media
        .set_audio_muted("dave", true)
        .await
        .expect("dave is known");
    media.remove_participant("alice");
    media.remove_participant("bob");
    let handle = media.clone();
    let freed = run_until(&media, &mut events, &mut second, move |_| {
        handle.stats().participants == 2
    })
    .await;
    assert!(freed, "{:?}", media.stats());
    assert_eq!(media.stats().rooms, 1);
}

#[tokio::test]
async fn ice_tcp_client_exchanges_media_with_a_udp_client() {
    let (media, mut events) = MediaServer::start(MediaConfig {
        udp_listen: local(0),
        public_ip: None,
        tcp_listen: Some(local(0)),
        tcp_limits: IceTcpLimits::default(),
        max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
        threads: 1,
    })
    .expect("media server starts");
    let tcp = media.tcp_addr().expect("TCP bound");

    let mut peers = [Peer::tcp("alice", tcp).await, Peer::udp("bob").await];
    for peer in &mut peers {
        peer.join(&media, "room").await;
    }
    let flowed = run_until(&media, &mut events, &mut peers, |p| exchanged(p, 25)).await;
    assert!(
        flowed,
        "alice (TCP) got {}, bob got {} frames",
        peers[0].received.len(),
        peers[1].received.len()
    );
    assert!(media.stats().forwarded_packets >= 50);
}

#[tokio::test]
async fn bad_requests_are_errors_not_crashes() {
    let (media, _events) = MediaServer::start(MediaConfig {
        udp_listen: local(0),
        public_ip: None,
        tcp_listen: None,
        tcp_limits: IceTcpLimits::default(),
        max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
        threads: 1,
    })
    .expect("media server starts");
    assert!(
        media
            .add_participant("room", "mallory", "not sdp")
            .await
            .is_err()
    );
    assert!(media.accept_answer("nobody", "not sdp").await.is_err());

    // Garbage on the media port is counted and dropped.
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for n in 0..20u8 {
        socket
            .send_to(&[n; 40], media.udp_addr())
            .await
            .expect("send");
    }
    let end = Instant::now() + Duration::from_secs(5);
    while media.stats().dropped_packets < 20 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(media.stats().dropped_packets, 20);
    assert_eq!(media.stats().participants, 0);
}

/// A media server with an ICE-TCP port and these limits on its connections.
fn ice_tcp_server(limits: IceTcpLimits) -> (MediaServer, mpsc::UnboundedReceiver<MediaEvent>) {
    MediaServer::start(MediaConfig {
        udp_listen: local(0),
        public_ip: None,
        tcp_listen: Some(local(0)),
        tcp_limits: limits,
        max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
        threads: 1,
    })
    .expect("media server starts")
}

/// A raw TCP connection from `ip` (any 127.0.0.0/8 address is this machine's).
async fn connect_from(ip: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((ip, 0)))
        .expect("bind a loopback address");
    socket.connect(server).await.expect("connect")
}

/// Whether the server closes the connection within `within` (what it sends is skipped).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0; 2048];
    let closed = async { while let Ok(1..) = stream.read(&mut buf).await {} };
    tokio::time::timeout(within, closed).await.is_ok()
}

/// One address opens as many ICE-TCP connections as it may: one more is closed at once, while
/// another address still connects; once one closes, the address may open another.
#[tokio::test]
async fn ice_tcp_connections_from_one_address_are_capped() {
    let (media, _events) = ice_tcp_server(IceTcpLimits {
        connections_per_address: 3,
        handshake_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
    });
    let tcp = media.tcp_addr().expect("TCP bound");
    let still_open = Duration::from_millis(500);
    let mut allowed = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from([127, 0, 0, 1], tcp).await;
        assert!(!closed_within(&mut stream, still_open).await);
        allowed.push(stream);
    }
    let mut one_more = connect_from([127, 0, 0, 1], tcp).await;
    assert!(
        closed_within(&mut one_more, Duration::from_secs(5)).await,
        "a fourth connection from one address is closed"
    );
    let mut elsewhere = connect_from([127, 0, 0, 2], tcp).await;
    assert!(!closed_within(&mut elsewhere, still_open).await);

    drop(allowed.pop());
    tokio::time::sleep(still_open).await;
    let mut again = connect_from([127, 0, 0, 1], tcp).await;
    assert!(!closed_within(&mut again, still_open).await);
}

/// A connection that never brings an ICE check with a participant's credentials is closed once
/// the handshake timeout has passed, though it keeps sending (frames that are not ICE checks).
#[tokio::test]
async fn ice_tcp_connection_without_an_ice_check_is_closed() {
    let handshake_timeout = Duration::from_secs(1);
    let (media, _events) = ice_tcp_server(IceTcpLimits {
        handshake_timeout,
        ..IceTcpLimits::default()
    });
    let tcp = media.tcp_addr().expect("TCP bound");
    let started = Instant::now();
    let (mut reader, mut writer) = connect_from([127, 0, 0, 1], tcp).await.into_split();
    let chatter = tokio::spawn(async move {
        let garbage = [0, 4, 0xde, 0xad, 0xbe, 0xef];
        while writer.write_all(&garbage).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0; 64];
    let closed = tokio::time::timeout(handshake_timeout * 5, reader.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "not closed: {closed:?}"
    );
    assert!(
        started.elapsed() >= handshake_timeout,
        "{:?}",
        started.elapsed()
    );
    chatter.abort();
}

/// A client whose ICE check came (it exchanges media) outlives the handshake timeout; once it
/// falls silent, its connection is closed after the idle timeout.
#[tokio::test]
async fn silent_ice_tcp_connection_is_closed() {
    let idle_timeout = Duration::from_secs(2);
    let (media, mut events) = ice_tcp_server(IceTcpLimits {
        handshake_timeout: Duration::from_millis(500),
        idle_timeout,
        ..IceTcpLimits::default()
    });
    let tcp = media.tcp_addr().expect("TCP bound");
    let mut peers = [Peer::tcp("alice", tcp).await, Peer::udp("bob").await];
    for peer in &mut peers {
        peer.join(&media, "room").await;
    }
    assert!(run_until(&media, &mut events, &mut peers, |p| exchanged(p, 25)).await);
    let (flowing_since, received) = (Instant::now(), peers[0].received.len());
    let outlived_the_handshake_timeout = run_until(&media, &mut events, &mut peers, |p| {
        flowing_since.elapsed() > Duration::from_secs(1) && p[0].received.len() > received + 25
    })
    .await;
    assert!(outlived_the_handshake_timeout, "alice's media stopped");

    // Alice falls silent (nothing is read or sent for her any more, but her socket).
    let silent_since = Instant::now();
    let Link::Tcp { incoming, .. } = &mut peers[0].link else {
        unreachable!("alice is on TCP")
    };
    let closed = tokio::time::timeout(idle_timeout * 5, async {
        while incoming.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "the silent connection stayed open");
    assert!(silent_since.elapsed() >= idle_timeout);
}
