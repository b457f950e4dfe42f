//! A minimal in-test SFU: an ICE-lite str0m peer per client on one 127.0.0.1 socket that
//! forwards each client's frames to the others (the "h" layer only when simulcast) and
//! remembers every frame it saw on the wire and every frame it wrote.
//!
//! Honest by default: each frame goes out unchanged on the track of its sender. A relay
//! started with [`Relay::misbehaving`] asks a hook, per frame and receiver, what to write
//! instead: nothing, the frame, copies, forgeries, or frames on another sender's track. That
//! is the malicious server of the threat model, with full control of what reaches a client.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::CodecExtra;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// A frame as the relay saw it on the wire.
#[derive(Debug, Clone)]
pub struct SeenFrame {
    pub from: usize,
    pub kind: MediaKind,
    pub rid: Option<Rid>,
    /// str0m's VP8 key frame detection, which reads the clear frame tag.
    pub keyframe: bool,
    pub data: Arc<[u8]>,
}

/// A frame the relay is about to forward to one client: what the hook decides on.
#[derive(Debug)]
pub struct Forward<'a> {
    /// The client that sent it.
    pub from: usize,
    /// The client it is for.
    pub to: usize,
    pub kind: MediaKind,
    pub keyframe: bool,
    pub data: &'a Arc<[u8]>,
}

/// A frame the relay writes towards `Forward::to`, on that client's track of the same kind.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Whose track it goes on (its SSRC and mid towards the receiver): the true sender when
    /// honest.
    pub track_of: usize,
    pub data: Arc<[u8]>,
    /// What the hook calls it, kept in [`Written`] so a test can count each kind of frame.
    pub label: &'static str,
}

impl Outgoing {
    /// The frame unchanged on its sender's track, labelled "genuine".
    pub fn honest(frame: &Forward) -> Self {
        Self {
            track_of: frame.from,
            data: frame.data.clone(),
            label: "genuine",
        }
    }
}

/// Decides, per frame and receiver, what the relay writes; in that order, each one RTP tick
/// after the one before so that every frame stays a frame of its own.
pub type Misbehaviour = Box<dyn FnMut(&Forward) -> Vec<Outgoing> + Send>;

/// A frame the relay wrote towards a client.
#[derive(Debug, Clone)]
pub struct Written {
    pub to: usize,
    pub kind: MediaKind,
    pub track_of: usize,
    pub label: &'static str,
    pub data: Arc<[u8]>,
}

enum RelayCommand {
    Join(String, oneshot::Sender<(usize, String)>),
    OfferTracks(usize, usize, oneshot::Sender<Option<String>>),
    AcceptAnswer(usize, String, oneshot::Sender<()>),
    RequestKeyframe(usize, oneshot::Sender<bool>),
    Seen(oneshot::Sender<Vec<SeenFrame>>),
    Written(oneshot::Sender<(Vec<Written>, usize)>),
}

pub struct Relay {
    commands: mpsc::UnboundedSender<RelayCommand>,
}

impl Relay {
    /// An honest relay.
    pub async fn start() -> Self {
        Self::misbehaving(|frame: &Forward| vec![Outgoing::honest(frame)]).await
    }

    /// A relay that writes what `hook` returns instead of each frame it would forward.
    pub async fn misbehaving(hook: impl FnMut(&Forward) -> Vec<Outgoing> + Send + 'static) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(RelayLoop::new(socket, Box::new(hook)).run(rx));
        Self { commands }
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> RelayCommand) -> T {
        let (reply, response) = oneshot::channel();
        self.commands.send(command(reply)).unwrap();
        response.await.expect("relay alive")
    }

    pub async fn join(&self, offer: String) -> (usize, String) {
        self.ask(|r| RelayCommand::Join(offer, r)).await
    }

    /// An offer of the other clients' tracks to `to`, once it knows at least `tracks` of them.
    pub async fn offer_tracks(&self, to: usize, tracks: usize) -> Option<String> {
        self.ask(|r| RelayCommand::OfferTracks(to, tracks, r)).await
    }

    pub async fn accept_answer(&self, to: usize, answer: String) {
        self.ask(|r| RelayCommand::AcceptAnswer(to, answer, r))
            .await
    }

    pub async fn request_keyframe(&self, from: usize) -> bool {
        self.ask(|r| RelayCommand::RequestKeyframe(from, r)).await
    }

    pub async fn seen(&self) -> Vec<SeenFrame> {
        self.ask(RelayCommand::Seen).await
    }

    /// Every frame written towards clients, in order. Panics if the hook asked for a write
    /// that could not be made (no such track, or str0m refused it): counts would lie.
    pub async fn written(&self) -> Vec<Written> {
        let (written, unwritable) = self.ask(RelayCommand::Written).await;
        assert_eq!(unwritable, 0, "frames the relay could not write");
        written
    }
}

struct OutTrack {
    /// The client whose track this is.
    origin: usize,
    origin_mid: Mid,
    kind: MediaKind,
    /// Our mid towards the receiving client.
    mid: Mid,
}

struct RelayPeer {
    rtc: Rtc,
    /// ICE and DTLS are up: str0m drops media written before.
    connected: bool,
    /// Media this peer sends us.
    tracks_in: Vec<(Mid, MediaKind)>,
    tracks_out: Vec<OutTrack>,
    pending: Option<SdpPendingOffer>,
}

struct RelayLoop {
    socket: UdpSocket,
    addr: SocketAddr,
    peers: Vec<RelayPeer>,
    seen: Vec<SeenFrame>,
    hook: Misbehaviour,
    written: Vec<Written>,
    unwritable: usize,
}

impl RelayLoop {
    fn new(socket: UdpSocket, hook: Misbehaviour) -> Self {
        let addr = socket.local_addr().unwrap();
        Self {
            socket,
            addr,
            peers: Vec::new(),
            seen: Vec::new(),
            hook,
            written: Vec::new(),
            unwritable: 0,
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
                        Ok(Output::Event(Event::Connected)) => peer.connected = true,
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
        for (to, peer) in self.peers.iter_mut().enumerate() {
            // Forwarded only where an honest relay would forward it, once writes go through.
            let negotiated = peer.pending.is_none()
                && peer
                    .tracks_out
                    .iter()
                    .any(|t| t.origin == from && t.origin_mid == data.mid);
            if !peer.connected || !negotiated {
                continue;
            }
            let frame = Forward {
                from,
                to,
                kind,
                keyframe,
                data: &data.data,
            };
            for (tick, out) in (self.hook)(&frame).into_iter().enumerate() {
                let time = MediaTime::new(data.time.numer() + tick as u64, data.time.frequency());
                let mid = peer
                    .tracks_out
                    .iter()
                    .find(|t| t.origin == out.track_of && t.kind == kind)
                    .map(|t| t.mid);
                let wrote = mid.is_some_and(|mid| {
                    peer.rtc.writer(mid).is_some_and(|writer| {
                        writer.match_params(data.params).is_some_and(|pt| {
                            writer
                                .write(pt, data.network_time, time, out.data.clone())
                                .is_ok()
                        })
                    })
                });
                if wrote {
                    self.written.push(Written {
                        to,
                        kind,
                        track_of: out.track_of,
                        label: out.label,
                        data: out.data,
                    });
                } else {
                    self.unwritable += 1;
                }
            }
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
                    connected: false,
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
                    peer.tracks_out.push(OutTrack {
                        origin,
                        origin_mid,
                        kind,
                        mid,
                    });
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
            RelayCommand::Written(reply) => {
                let _ = reply.send((self.written.clone(), self.unwritable));
            }
        }
    }
}
