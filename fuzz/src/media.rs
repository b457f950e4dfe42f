//! The SFU fixture: a [`Sfu`] and str0m clients wired together in memory, with a simulated
//! clock and no network delay. Clients join with real SDP offers (as browsers do: full ICE,
//! DTLS-SRTP) and run in RTP mode, so an input can make them send any RTP packet, which
//! reaches the SFU through real SRTP.
//!
//! Neither `Sfu` nor str0m's `Rtc` can be cloned, so every input sets up its own world. str0m
//! draws SSRCs, ICE credentials and DTLS keys at random, so a world is the same in everything
//! but those.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use sealroom_sfu::{Protocol, Sfu, SfuConfig, SfuOutput};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{
    Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::Receive;
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The SFU's UDP candidate.
pub const SFU_UDP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5000);
/// The room everyone joins.
pub const ROOM: &str = "fuzz-room";
/// Simulcast layers of the publisher's video, lowest first.
pub const LAYERS: [&str; 2] = ["l", "h"];
/// How many datagrams clients sent to the SFU are kept for inputs to replay.
const CAPTURED: usize = 32;
/// Simulated time per step while nothing is in flight.
const STEP: Duration = Duration::from_millis(5);
/// Bound on packet exchanges per pump, so an input cannot make a world spin forever.
const MAX_ROUNDS: usize = 64;

/// What a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Audio and simulcast video.
    AudioAndSimulcastVideo,
    /// Audio only.
    Audio,
}

/// A client: a str0m `Rtc` in RTP mode, as a browser would be at the other end.
pub struct Client {
    /// The name it joined the SFU with.
    pub name: &'static str,
    /// Its address.
    pub addr: SocketAddr,
    rtc: Rtc,
    connected: bool,
    alive: bool,
    /// M-lines it sends on, with their layers.
    sending: Vec<(Mid, MediaKind, Option<Rid>)>,
    /// M-lines the SFU added for it to receive on.
    receiving: Vec<Mid>,
    next_timeout: Instant,
    outbox: Vec<Vec<u8>>,
}

/// An SFU and its clients.
pub struct MediaWorld {
    /// The simulated time.
    pub now: Instant,
    /// The SFU under test.
    pub sfu: Sfu,
    /// The clients; the first publishes audio and simulcast video, the second audio.
    pub clients: Vec<Client>,
    /// The latest datagrams clients sent to the SFU, with their sources.
    pub captured: Vec<(SocketAddr, Vec<u8>)>,
}

impl MediaWorld {
    /// Alice (audio and simulcast video) and Bob (audio) in one room, connected, with the
    /// renegotiation that gives each the other's tracks done.
    ///
    /// # Panics
    /// If the SFU refuses a client's offer or the clients never connect: the fixture no
    /// longer matches the SFU.
    pub fn connected_pair() -> Self {
        let now = Instant::now();
        let mut config = SfuConfig::new(SFU_UDP);
        // Bandwidth estimation on: TWCC feedback and layer choice by estimate are reachable.
        config.initial_bandwidth_bps = Some(1_000_000);
        let mut world = MediaWorld {
            now,
            sfu: Sfu::new(config, now).expect("valid SFU config"),
            clients: Vec::new(),
            captured: Vec::new(),
        };
        world
            .join("alice", Publish::AudioAndSimulcastVideo)
            .expect("the SFU accepts Alice's offer");
        world
            .join("bob", Publish::Audio)
            .expect("the SFU accepts Bob's offer");
        for _ in 0..200 {
            if world.clients.iter().all(|c| c.connected) && world.clients[1].receiving.len() >= 2 {
                break;
            }
            world.advance(STEP);
        }
        assert!(
            world.clients.iter().all(|c| c.connected),
            "the clients connect to the SFU"
        );
        world
    }

    /// A client joins from a real SDP offer. `Err` if the SFU refused it.
    pub fn join(&mut self, name: &'static str, publish: Publish) -> Result<(), String> {
        let index = self.clients.len() as u8;
        let addr = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 10 + index), 40_000));
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").map_err(|e| e.to_string())?);
        let mut change = rtc.sdp_api();
        let mut sending = Vec::new();
        let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        sending.push((audio, MediaKind::Audio, None));
        if publish == Publish::AudioAndSimulcastVideo {
            let mut simulcast = Simulcast::new();
            for rid in LAYERS {
                simulcast.add_send_layer(SimulcastLayer::new(rid));
            }
            let video = change.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                None,
                None,
                Some(simulcast),
            );
            sending.extend(LAYERS.map(|rid| (video, MediaKind::Video, Some(Rid::from(rid)))));
        }
        let (offer, pending) = change.apply().ok_or("no offer")?;
        let answer = self
            .sfu
            .add_participant(self.now, ROOM, name, &offer.to_sdp_string())
            .map_err(|e| e.to_string())?;
        // A member of the room's group, as the server would let it receive.
        self.sfu
            .set_receives_media(name, true)
            .map_err(|e| e.to_string())?;
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| e.to_string())?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        let mut client = Client {
            name,
            addr,
            rtc,
            connected: false,
            alive: true,
            sending,
            receiving: Vec::new(),
            next_timeout: self.now,
            outbox: Vec::new(),
        };
        client.drain();
        self.clients.push(client);
        self.pump();
        Ok(())
    }

    /// A datagram from `source` arrives at the SFU's UDP port.
    pub fn inject(&mut self, source: SocketAddr, contents: &[u8]) {
        self.sfu
            .handle_packet(self.now, Protocol::Udp, source, SFU_UDP, contents);
        self.pump();
    }

    /// A client sends an RTP packet on one of its streams (`stream` picks which, `pt` which
    /// of the negotiated payload types, or any byte when `raw_pt`), through SRTP to the SFU.
    #[allow(clippy::too_many_arguments)]
    pub fn send_rtp(
        &mut self,
        client: usize,
        stream: usize,
        pt: u8,
        raw_pt: bool,
        seq_no: u64,
        time: u32,
        marker: bool,
        payload: &[u8],
    ) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(client).filter(|c| c.alive) else {
            return;
        };
        if c.sending.is_empty() {
            return;
        }
        let (mid, _, rid) = c.sending[stream % c.sending.len()];
        let pt = if raw_pt {
            Pt::from(pt & 0x7f)
        } else {
            let Some(media) = c.rtc.media(mid) else {
                return;
            };
            let pts = media.remote_pts();
            if pts.is_empty() {
                return;
            }
            pts[usize::from(pt) % pts.len()]
        };
        let mut api = c.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, rid) else {
            return;
        };
        tx.write_rtp(
            RtpWrite::new(pt, SeqNo::from(seq_no), time, now, payload.to_vec()).marker(marker),
        );
        c.drain();
        self.pump();
    }

    /// A client asks for a keyframe on one of the tracks it receives.
    pub fn request_keyframe(&mut self, client: usize, track: usize, full: bool) {
        let Some(c) = self.clients.get_mut(client).filter(|c| c.alive) else {
            return;
        };
        if c.receiving.is_empty() {
            return;
        }
        let mid = c.receiving[track % c.receiving.len()];
        let kind = if full {
            KeyframeRequestKind::Fir
        } else {
            KeyframeRequestKind::Pli
        };
        if let Some(rx) = c.rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_keyframe(kind);
        }
        c.drain();
        self.pump();
    }

    /// A client's packets stop, without a word to the SFU (its consent checks stop too).
    pub fn vanish(&mut self, client: usize) {
        if let Some(c) = self.clients.get_mut(client) {
            c.alive = false;
        }
    }

    /// A client leaves: the server removes it from the SFU, and its packets stop.
    pub fn leave(&mut self, client: usize) {
        if let Some(c) = self.clients.get_mut(client) {
            c.alive = false;
            let name = c.name;
            self.sfu.remove_participant(name);
            self.pump();
        }
    }

    /// Simulated time passes: in steps of [`STEP`], or of a 200th of a long wait, so a wait
    /// of a minute (past ICE consent expiry) costs no more than 200 steps.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        let step = STEP.max(by / 200);
        while self.now < end {
            self.now = (self.now + step).min(end);
            let now = self.now;
            self.sfu.handle_timeout(now);
            for c in self.clients.iter_mut().filter(|c| c.alive) {
                if c.next_timeout <= now {
                    if c.rtc.handle_input(Input::Timeout(now)).is_err() {
                        c.alive = false;
                        continue;
                    }
                    c.drain();
                }
            }
            self.pump();
        }
    }

    /// Moves packets between the SFU and the clients, and answers the SFU's offers, until
    /// nothing is in flight.
    pub fn pump(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            loop {
                match self.sfu.poll_output() {
                    SfuOutput::Transmit(t) => {
                        moved = true;
                        let now = self.now;
                        if let Some(c) = self
                            .clients
                            .iter_mut()
                            .find(|c| c.addr == t.destination && c.alive)
                        {
                            c.receive(now, t.source, &t.contents);
                        }
                    }
                    SfuOutput::Offer { participant, sdp } => {
                        if let Some(c) = self.clients.iter_mut().find(|c| c.name == participant)
                            && let Some(answer) = c.answer(&sdp)
                        {
                            // A refused answer is the SFU's to handle: it offers again.
                            let _ = self.sfu.accept_answer(&participant, &answer);
                        }
                    }
                    SfuOutput::Timeout(_) => break,
                    _ => {}
                }
            }
            for c in &mut self.clients {
                for contents in c.outbox.drain(..) {
                    moved = true;
                    self.sfu
                        .handle_packet(self.now, Protocol::Udp, c.addr, SFU_UDP, &contents);
                    if self.captured.len() == CAPTURED {
                        self.captured.remove(0);
                    }
                    self.captured.push((c.addr, contents));
                }
            }
            if !moved {
                break;
            }
        }
    }
}

impl Client {
    fn receive(&mut self, now: Instant, source: SocketAddr, contents: &[u8]) {
        let Ok(contents) = contents.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.addr,
                contents,
            },
        );
        if self.rtc.handle_input(input).is_err() {
            self.alive = false;
            return;
        }
        self.drain();
    }

    fn answer(&mut self, sdp: &str) -> Option<String> {
        let offer = SdpOffer::from_sdp_string(sdp).ok()?;
        let answer = self.rtc.sdp_api().accept_offer(offer).ok()?;
        self.drain();
        Some(answer.to_sdp_string())
    }

    /// Polls the `Rtc` until it has nothing more to say (str0m's single-mutation rule).
    fn drain(&mut self) {
        while self.alive {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => self.outbox.push(t.contents.to_vec()),
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(Event::MediaAdded(added))) => {
                    if added.direction.is_receiving() {
                        self.receiving.push(added.mid);
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(_) => self.alive = false,
            }
        }
    }
}
