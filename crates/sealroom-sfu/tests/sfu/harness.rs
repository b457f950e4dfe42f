//! An in-memory network: str0m clients (full ICE, frame mode, like a browser) and the SFU,
//! exchanging packets through a simulated clock. No sockets, deterministic apart from
//! str0m's own random SSRCs and keys.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use sealroom_sfu::{Protocol, RefusedTrack, Sfu, SfuConfig, SfuOutput};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, KeyframeRequest, MediaKind, MediaTime, Mid, Rid, Simulcast,
    SimulcastLayer,
};
use str0m::net::{Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// One simulated millisecond per step.
const TICK: Duration = Duration::from_millis(1);
/// One-way network delay.
const LATENCY: Duration = Duration::from_millis(5);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const VIDEO_INTERVAL: Duration = Duration::from_millis(33);

pub const SFU_UDP: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5000);
pub const SFU_TCP: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5001);

/// What a client sends.
#[derive(Debug, Clone, Copy)]
pub struct Publish {
    pub audio: bool,
    pub video: bool,
    /// A second video track, the screen (after the camera, as the browser orders them).
    pub screen: bool,
    /// Simulcast rids, lowest quality first; empty for none.
    pub simulcast: &'static [&'static str],
    pub transport: Protocol,
}

impl Publish {
    pub const AUDIO_VIDEO: Publish = Publish {
        audio: true,
        video: true,
        screen: false,
        simulcast: &[],
        transport: Protocol::Udp,
    };
    pub const NOTHING: Publish = Publish {
        audio: false,
        video: false,
        screen: false,
        simulcast: &[],
        transport: Protocol::Udp,
    };
    pub const SIMULCAST: Publish = Publish {
        audio: false,
        video: true,
        screen: false,
        simulcast: &["l", "m", "h"],
        transport: Protocol::Udp,
    };
    /// What the browser publishes while sharing its screen.
    pub const AUDIO_CAMERA_SCREEN: Publish = Publish {
        screen: true,
        ..Publish::AUDIO_VIDEO
    };
}

/// A media frame as written by a publisher or received by a subscriber.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The publisher (for received frames: the msid stream id the SFU announced).
    pub publisher: String,
    pub kind: MediaKind,
    /// Simulcast layer; known for sent frames only.
    pub layer: Option<Rid>,
    /// Sent on the screen track; known for sent frames only.
    pub screen: bool,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// Frames one client received from another, by the publisher's track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCounts {
    pub audio: usize,
    /// The first (or only) video track.
    pub camera: usize,
    pub screen: usize,
}

/// Turns a plaintext frame into what goes on the wire (SFrame in the real client).
pub type Protect = Box<dyn FnMut(MediaKind, bool, Vec<u8>) -> Vec<u8>>;

pub struct Client {
    pub name: String,
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub connected: bool,
    pub sent: Vec<Frame>,
    pub received: Vec<Frame>,
    pub keyframe_requests: Vec<KeyframeRequest>,
    /// M-lines the SFU added for this client to receive on.
    pub receiving: Vec<(Mid, MediaKind)>,
    /// SDP offers from the SFU that this client answered.
    pub offers_answered: usize,
    /// While set, offers from the SFU wait in `held_offers` instead of being answered.
    pub hold_offers: bool,
    pub held_offers: Vec<String>,
    pub protect: Option<Protect>,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    screen_mid: Option<Mid>,
    layers: Vec<Option<Rid>>,
    /// Video m-lines and layers whose next frame must be a keyframe.
    keyframe_due: Vec<(Mid, Option<Rid>)>,
    audio_frames: u64,
    video_frames: u64,
    next_audio: Instant,
    next_video: Instant,
    next_timeout: Instant,
    outbox: Vec<Datagram>,
}

#[derive(Debug, Clone)]
pub struct Datagram {
    pub proto: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// A downlink limited to a bitrate, with a queue of at most `QUEUE_LIMIT` of sending time.
#[derive(Debug)]
struct Link {
    rate_bps: u64,
    free_at: Instant,
}

const QUEUE_LIMIT: Duration = Duration::from_millis(300);

pub struct World {
    pub now: Instant,
    pub sfu: Sfu,
    pub clients: Vec<Client>,
    /// Participants the SFU reported as disconnected.
    pub disconnected: Vec<String>,
    /// Refused tracks the SFU reported, in order.
    pub refused: Vec<(String, RefusedTrack)>,
    /// Datagrams sent over ICE-TCP, either way.
    pub tcp_datagrams: usize,
    in_flight: Vec<(Instant, Datagram)>,
    deaf: Vec<SocketAddr>,
    /// Addresses gone from the network: nothing reaches them or leaves them.
    gone: Vec<SocketAddr>,
    lossy: HashMap<SocketAddr, u32>,
    rng: u32,
    links: HashMap<SocketAddr, Link>,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    /// With the SFU's configuration changed by `adjust` after the defaults of [`World::new`].
    pub fn with_config(adjust: impl FnOnce(&mut SfuConfig)) -> Self {
        let mut config = SfuConfig::new(SFU_UDP);
        config.tcp_candidate = Some(SFU_TCP);
        // The simulcast tests adapt layers to each receiver's estimate.
        config.initial_bandwidth_bps = Some(1_000_000);
        adjust(&mut config);
        let now = Instant::now();
        World {
            now,
            sfu: Sfu::new(config, now).expect("valid SFU config"),
            clients: Vec::new(),
            disconnected: Vec::new(),
            refused: Vec::new(),
            tcp_datagrams: 0,
            in_flight: Vec::new(),
            deaf: Vec::new(),
            gone: Vec::new(),
            lossy: HashMap::new(),
            rng: 0x9e37_79b9,
            links: HashMap::new(),
        }
    }

    /// A client joins `room` publishing `publish`; returns its index.
    pub fn join(&mut self, name: &str, room: &str, publish: Publish) -> usize {
        let index = self.join_without_receiving(name, room, publish);
        self.set_receives_media(name, true);
        index
    }

    /// Lets the client receive, or stops it, as the server does when it joins or leaves the
    /// encrypted group.
    pub fn set_receives_media(&mut self, name: &str, receives: bool) {
        self.sfu
            .set_receives_media(name, receives)
            .expect("a participant of the SFU");
        self.collect();
    }

    /// A client joins `room` publishing `publish`, and the SFU is not told to let it receive
    /// (as the server does for a participant not yet in the encrypted group); returns its
    /// index.
    pub fn join_without_receiving(&mut self, name: &str, room: &str, publish: Publish) -> usize {
        let now = self.now;
        let index = self.clients.len();
        let ip = Ipv4Addr::new(192, 0, 2, 10 + index as u8);
        let addr = SocketAddr::from((ip, 40_000 + index as u16));
        let mut rtc = Rtc::builder().build(now);
        let candidate = match publish.transport {
            Protocol::Tcp => Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Active)
                .build(),
            _ => Candidate::host(addr, "udp"),
        };
        rtc.add_local_candidate(candidate.expect("client candidate"));

        let mut change = rtc.sdp_api();
        let audio_mid = publish
            .audio
            .then(|| change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let layers: Vec<Option<Rid>> = if publish.simulcast.is_empty() {
            vec![None]
        } else {
            publish
                .simulcast
                .iter()
                .map(|r| Some(Rid::from(*r)))
                .collect()
        };
        let video_mid = publish.video.then(|| {
            let simulcast = (!publish.simulcast.is_empty()).then(|| {
                let mut s = Simulcast::new();
                for rid in publish.simulcast {
                    s.add_send_layer(SimulcastLayer::new(rid));
                }
                s
            });
            change.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast)
        });
        let screen_mid = publish
            .screen
            .then(|| change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
        let keyframe_due = video_mid
            .iter()
            .flat_map(|mid| layers.iter().map(|layer| (*mid, *layer)))
            .chain(screen_mid.map(|mid| (mid, None)))
            .collect();
        if audio_mid.is_none() && video_mid.is_none() {
            // A receive-only client still needs an m-line for its first offer.
            change.add_channel("signalling-free".into());
        }
        let (offer, pending) = change.apply().expect("client offer");
        let answer = self
            .sfu
            .add_participant(now, room, name, &offer.to_sdp_string())
            .expect("SFU accepts the offer");
        let answer = SdpAnswer::from_sdp_string(&answer).expect("answer parses");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("client accepts the answer");

        let mut client = Client {
            name: name.to_owned(),
            rtc,
            addr,
            connected: false,
            sent: Vec::new(),
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            receiving: Vec::new(),
            offers_answered: 0,
            hold_offers: false,
            held_offers: Vec::new(),
            protect: None,
            audio_mid,
            video_mid,
            screen_mid,
            keyframe_due,
            layers,
            audio_frames: 0,
            video_frames: 0,
            next_audio: now,
            next_video: now,
            next_timeout: now,
            outbox: Vec::new(),
        };
        client.drain();
        self.clients.push(client);
        self.collect();
        index
    }

    pub fn client(&self, name: &str) -> &Client {
        self.clients
            .iter()
            .find(|c| c.name == name)
            .expect("known client")
    }

    pub fn client_mut(&mut self, name: &str) -> &mut Client {
        self.clients
            .iter_mut()
            .find(|c| c.name == name)
            .expect("known client")
    }

    /// Limits the bandwidth towards a client.
    pub fn limit_downlink(&mut self, name: &str, rate_bps: u64) {
        let addr = self.client(name).addr;
        self.links.insert(
            addr,
            Link {
                rate_bps,
                free_at: self.now,
            },
        );
    }

    /// Loses `percent` of the packets to and from a client, pseudo-randomly.
    pub fn set_loss(&mut self, name: &str, percent: u32) {
        let addr = self.client(name).addr;
        self.lossy.insert(addr, percent);
    }

    /// Packets towards a client are lost from now on; it keeps sending.
    pub fn deafen(&mut self, name: &str) {
        let addr = self.client(name).addr;
        self.deaf.push(addr);
    }

    /// A client leaves the network without telling anyone (its packets stop).
    pub fn vanish(&mut self, name: &str) {
        self.clients.retain(|c| c.name != name);
    }

    /// The client's address goes away (its network is gone): nothing it sends from there
    /// arrives, nothing sent there reaches it.
    pub fn vanish_address(&mut self, name: &str) {
        let addr = self.client(name).addr;
        self.gone.push(addr);
    }

    /// The client's network changes (Wi-Fi to mobile): its old address is gone, and it
    /// restarts ICE from `addr` with a new offer, as a browser's `restartIce()` does. An offer
    /// from the SFU it held is dropped, as a client with an offer of its own out ignores one.
    pub fn restart_ice_from(&mut self, name: &str, room: &str, addr: SocketAddr) {
        let now = self.now;
        let c = self.client_mut(name);
        c.addr = addr;
        c.held_offers.clear();
        let mut change = c.rtc.sdp_api();
        change.ice_restart(false);
        let (offer, pending) = change.apply().expect("an ICE restart is a change");
        let answer = self
            .sfu
            .add_participant(now, room, name, &offer.to_sdp_string())
            .expect("the SFU takes a second offer");
        let c = self.client_mut(name);
        c.rtc
            .sdp_api()
            .accept_answer(
                pending,
                SdpAnswer::from_sdp_string(&answer).expect("answer"),
            )
            .expect("client accepts the answer");
        c.rtc
            .add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        c.drain();
        self.sfu.offer_pending_changes(name);
        self.collect();
    }

    /// Injects a datagram towards the SFU's UDP port.
    pub fn inject(&mut self, source: SocketAddr, contents: &[u8]) {
        self.sfu
            .handle_packet(self.now, Protocol::Udp, source, SFU_UDP, contents);
        self.collect();
    }

    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.step();
        }
    }

    /// Runs until `done` holds, for at most `limit`. Returns whether it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    pub fn step(&mut self) {
        self.now += TICK;
        let now = self.now;

        let (due, later): (Vec<_>, Vec<_>) =
            self.in_flight.drain(..).partition(|(at, _)| *at <= now);
        self.in_flight = later;
        for (_, d) in due {
            if d.destination == SFU_UDP || d.destination == SFU_TCP {
                self.sfu
                    .handle_packet(now, d.proto, d.source, d.destination, &d.contents);
            } else if let Some(c) = self.clients.iter_mut().find(|c| c.addr == d.destination) {
                c.receive(now, &d);
            }
        }

        self.sfu.handle_timeout(now);
        for c in &mut self.clients {
            if c.next_timeout <= now {
                c.rtc
                    .handle_input(Input::Timeout(now))
                    .expect("client handles timeout");
                c.drain();
            }
            c.produce(now);
        }
        self.collect();
    }

    /// Moves everything the SFU and the clients want to send onto the wire, and plays
    /// signalling: offers from the SFU are answered at once unless held.
    fn collect(&mut self) {
        loop {
            match self.sfu.poll_output() {
                SfuOutput::Transmit(t) => {
                    let d = Datagram {
                        proto: t.proto,
                        source: t.source,
                        destination: t.destination,
                        contents: t.contents.to_vec(),
                    };
                    self.send(d);
                }
                SfuOutput::Offer { participant, sdp } => {
                    let Some(c) = self.clients.iter_mut().find(|c| c.name == participant) else {
                        continue;
                    };
                    if c.hold_offers {
                        c.held_offers.push(sdp);
                    } else {
                        let answer = c.answer(&sdp);
                        self.sfu
                            .accept_answer(&participant, &answer)
                            .expect("SFU accepts the answer");
                    }
                }
                SfuOutput::Disconnected { participant } => self.disconnected.push(participant),
                SfuOutput::TrackRefused { participant, track } => {
                    self.refused.push((participant, track));
                }
                SfuOutput::Timeout(_) => break,
            }
        }
        let outgoing: Vec<Datagram> = self
            .clients
            .iter_mut()
            .flat_map(|c| c.outbox.drain(..))
            .collect();
        for d in outgoing {
            self.send(d);
        }
    }

    /// Checks that every frame `receiver` got from `publisher` is byte for byte one that
    /// `publisher` wrote, of the same kind, and counts them by track.
    pub fn identical_frames(&self, receiver: &str, publisher: &str) -> FrameCounts {
        let sender = self.client(publisher);
        let mut counts = FrameCounts::default();
        for frame in self.client(receiver).frames_from(publisher) {
            let sent = sender
                .sent_frame(&frame.data)
                .unwrap_or_else(|| panic!("{receiver} got a frame {publisher} never sent"));
            assert_eq!(sent.kind, frame.kind);
            match (sent.kind, sent.screen) {
                (MediaKind::Audio, _) => counts.audio += 1,
                (MediaKind::Video, false) => counts.camera += 1,
                (MediaKind::Video, true) => counts.screen += 1,
            }
        }
        counts
    }

    /// Answers the offers a client held back, oldest first.
    pub fn release_offers(&mut self, name: &str) {
        let c = self.client_mut(name);
        c.hold_offers = false;
        let offers: Vec<String> = c.held_offers.drain(..).collect();
        for sdp in offers {
            let answer = self.client_mut(name).answer(&sdp);
            self.sfu
                .accept_answer(name, &answer)
                .expect("SFU accepts the answer");
        }
        self.collect();
    }

    fn send(&mut self, d: Datagram) {
        let now = self.now;
        if d.proto == Protocol::Tcp {
            self.tcp_datagrams += 1;
        }
        if self.deaf.contains(&d.destination)
            || self.gone.contains(&d.destination)
            || self.gone.contains(&d.source)
        {
            return;
        }
        let loss = [d.source, d.destination]
            .iter()
            .filter_map(|a| self.lossy.get(a))
            .max()
            .copied();
        if let Some(percent) = loss {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 17;
            self.rng ^= self.rng << 5;
            if self.rng % 100 < percent {
                return;
            }
        }
        let deliver_at = match self.links.get_mut(&d.destination) {
            None => now + LATENCY,
            Some(link) => {
                let start = link.free_at.max(now);
                if start - now > QUEUE_LIMIT {
                    return; // Tail drop.
                }
                let bits = d.contents.len() as u64 * 8;
                let finish = start + Duration::from_micros(bits * 1_000_000 / link.rate_bps);
                link.free_at = finish;
                finish + LATENCY
            }
        };
        self.in_flight.push((deliver_at, d));
    }
}

impl Client {
    fn receive(&mut self, now: Instant, d: &Datagram) {
        let Ok(contents) = d.contents.as_slice().try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: d.proto,
                source: d.source,
                destination: d.destination,
                contents,
            },
        );
        self.rtc.handle_input(input).expect("client handles input");
        self.drain();
    }

    /// Answers an SFU offer (the SFU's offers only add or stop receiving m-lines).
    pub fn answer(&mut self, sdp: &str) -> String {
        let offer = SdpOffer::from_sdp_string(sdp).expect("SFU offer parses");
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("client accepts the SFU's offer");
        self.offers_answered += 1;
        self.drain();
        answer.to_sdp_string()
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("client poll") {
                Output::Timeout(t) => {
                    self.next_timeout = t;
                    break;
                }
                Output::Transmit(t) => self.outbox.push(Datagram {
                    proto: t.proto,
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.to_vec(),
                }),
                Output::Event(e) => self.handle_event(e),
            }
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected => self.connected = true,
            Event::MediaAdded(added) => self.receiving.push((added.mid, added.kind)),
            Event::MediaData(data) => {
                let Some(media) = self.rtc.media(data.mid) else {
                    return;
                };
                let frame = Frame {
                    publisher: media.stream_id().to_owned(),
                    kind: media.kind(),
                    layer: None,
                    screen: false,
                    keyframe: data.is_keyframe(),
                    data: data.data.to_vec(),
                };
                self.received.push(frame);
            }
            Event::KeyframeRequest(req) => {
                let due = (req.mid, req.rid);
                if !self.keyframe_due.contains(&due) {
                    self.keyframe_due.push(due);
                }
                self.keyframe_requests.push(req);
            }
            _ => {}
        }
    }

    /// Writes the frames that are due: Opus every 20 ms, VP8 every 33 ms on every layer and
    /// on the screen.
    fn produce(&mut self, now: Instant) {
        if !self.connected {
            return;
        }
        if let Some(mid) = self.audio_mid
            && now >= self.next_audio
        {
            self.next_audio = now + AUDIO_INTERVAL;
            let n = self.audio_frames;
            self.audio_frames += 1;
            let time = MediaTime::new(n * 960, Frequency::FORTY_EIGHT_KHZ);
            let plain = audio_frame(&self.name, n);
            self.write(mid, None, MediaKind::Audio, false, time, plain, now);
        }
        if let Some(mid) = self.video_mid
            && now >= self.next_video
        {
            self.next_video = now + VIDEO_INTERVAL;
            let n = self.video_frames;
            self.video_frames += 1;
            let time = MediaTime::new(n * 3000, Frequency::NINETY_KHZ);
            for layer in self.layers.clone() {
                let key = self.take_keyframe_due(mid, layer);
                let label = layer.as_deref().unwrap_or("-").to_owned();
                let plain = video_frame(&self.name, &label, n, key);
                self.write(mid, layer, MediaKind::Video, key, time, plain, now);
            }
            if let Some(mid) = self.screen_mid {
                let key = self.take_keyframe_due(mid, None);
                let plain = video_frame(&self.name, "screen", n, key);
                self.write(mid, None, MediaKind::Video, key, time, plain, now);
            }
        }
    }

    /// Whether the next frame on this m-line and layer must be a keyframe; clears it.
    fn take_keyframe_due(&mut self, mid: Mid, layer: Option<Rid>) -> bool {
        let due = (mid, layer);
        let key = self.keyframe_due.contains(&due);
        self.keyframe_due.retain(|d| *d != due);
        key
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        mid: Mid,
        layer: Option<Rid>,
        kind: MediaKind,
        keyframe: bool,
        time: MediaTime,
        plain: Vec<u8>,
        now: Instant,
    ) {
        let data = match &mut self.protect {
            Some(protect) => protect(kind, keyframe, plain),
            None => plain,
        };
        let codec = if kind.is_audio() {
            Codec::Opus
        } else {
            Codec::Vp8
        };
        // None once the SFU closed this client's connection.
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .expect("codec negotiated")
            .pt();
        if let Some(rid) = layer {
            writer = writer.rid(rid);
        }
        writer
            .write(pt, now, time, data.clone())
            .expect("client writes a frame");
        self.sent.push(Frame {
            publisher: self.name.clone(),
            kind,
            layer,
            screen: Some(mid) == self.screen_mid,
            keyframe,
            data,
        });
        self.drain();
    }

    /// Frames received from `publisher`.
    pub fn frames_from<'a>(&'a self, publisher: &'a str) -> impl Iterator<Item = &'a Frame> + 'a {
        self.received
            .iter()
            .filter(move |f| f.publisher == publisher)
    }

    /// The sent frame with these bytes.
    pub fn sent_frame(&self, data: &[u8]) -> Option<&Frame> {
        self.sent.iter().find(|f| f.data == data)
    }
}

/// Bytes that stand for plaintext media; the tests look for them on the wire.
pub const PLAINTEXT_MARKER: &[u8] = b"PLAINTEXT-MEDIA:";

/// An Opus-sized frame, unique per publisher and number.
fn audio_frame(publisher: &str, n: u64) -> Vec<u8> {
    let mut frame = Vec::with_capacity(80);
    frame.extend_from_slice(&n.to_be_bytes());
    frame.extend_from_slice(publisher.as_bytes());
    while frame.len() < 80 {
        frame.extend_from_slice(PLAINTEXT_MARKER);
    }
    frame
}

/// A VP8 frame: frame tag (keyframe bit, 10 bytes with the start code and size on keyframes,
/// 3 otherwise, as the client leaves them clear), then a body unique per publisher, `label`
/// (the simulcast layer, "-" without simulcast, or "screen") and number. Higher layers are
/// bigger; "h" spans several RTP packets.
fn video_frame(publisher: &str, label: &str, n: u64, keyframe: bool) -> Vec<u8> {
    let size = match label {
        "l" => 150,
        "m" => 500,
        "-" | "screen" => 1000,
        _ => 2500,
    };
    let mut frame = if keyframe {
        vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]
    } else {
        vec![0x11, 0x00, 0x00]
    };
    frame.extend_from_slice(&n.to_be_bytes());
    frame.extend_from_slice(label.as_bytes());
    frame.extend_from_slice(publisher.as_bytes());
    while frame.len() < size {
        frame.extend_from_slice(PLAINTEXT_MARKER);
    }
    frame
}
