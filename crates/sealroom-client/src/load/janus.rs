//! The Janus target: the same rooms, participants and synthetic streams, through Janus's
//! VideoRoom plugin (Janus 1.x, multistream).
//!
//! Per room the generator creates a VideoRoom (Opus and VP8, no simulcast, as many publishers
//! as the room has participants). Each participant opens a Janus session with two handles, as
//! a browser on Janus does: a publisher, whose offer comes from the native client's str0m media
//! engine and whose answer comes back in the `publish` event; and one multistream subscriber,
//! which Janus offers every other publisher's audio and video on, renegotiating as publishers
//! arrive, and which a receive-only str0m engine answers (`start`). There is no MLS here: each
//! room's SFrame key is random, handed to its participants by the generator, so every frame
//! is protected, sent, forwarded and decrypted exactly as with Sealroom while Janus only
//! forwards the bytes.

mod api;

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use anyhow::{Context, anyhow};
use sealroom_e2ee::sframe::{MediaKeyring, mls_exporter_length};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{debug, error};

use api::{Api, PluginReply, Session};

use super::{
    LoadPlan, LoadReport, Target,
    figures::{self, Participants, Sample},
    process,
};
use crate::{
    media::{Media, MediaConfig, SyntheticMedia},
    session::MEDIA_SUITE,
};

pub(super) async fn run(
    plan: &LoadPlan,
    url: &str,
    pid: Option<u32>,
) -> anyhow::Result<LoadReport> {
    let api = Api::new(url)?;
    let rooms = plan.participants / plan.room_size;
    let load_average_before = process::load_average();

    let (admin, _) = Session::create(&api)
        .await
        .context("creating a Janus session (is Janus running with its HTTP transport?)")?;
    let admin_handle = admin.attach_videoroom().await?;
    // Room ids unique per run, well inside a JSON integer.
    let first_room = u64::from(rand::random::<u32>()) * 1_000;
    let room_ids: Vec<u64> = (0..rooms as u64).map(|r| first_room + r + 1).collect();

    let mut participants: Vec<Vec<Participant>> = Vec::new();
    for &room in &room_ids {
        admin
            .request(
                admin_handle,
                json!({
                    "request": "create",
                    "room": room,
                    "description": format!("sealroom load {room}"),
                    "publishers": plan.room_size,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                }),
            )
            .await
            .context("creating a VideoRoom")?;
        let mut base_key = vec![0; mls_exporter_length(MEDIA_SUITE)];
        rand::fill(&mut base_key[..]);
        let mut members = Vec::new();
        for index in 0..plan.room_size {
            let publishes = plan.publishes(index);
            let participant =
                Participant::join(&api, room, index, publishes, &base_key, plan.bind_ip)
                    .await
                    .with_context(|| format!("participant {index} joining Janus room {room}"))?;
            members.push(participant);
        }
        participants.push(members);
    }

    let participants = Rooms(participants);
    let measurement = figures::measure(plan, &participants, pid).await;
    let report = LoadReport::new(
        Target::Janus,
        plan,
        rooms,
        2,
        &measurement,
        load_average_before,
    );

    for participant in participants.0.into_iter().flatten() {
        participant.leave().await;
    }
    for room in room_ids {
        if let Err(e) = admin
            .request(admin_handle, json!({"request": "destroy", "room": room}))
            .await
        {
            debug!(room, error = %e, "destroying a VideoRoom");
        }
    }
    admin.destroy().await;
    Ok(report)
}

struct Rooms(Vec<Vec<Participant>>);

impl Participants for Rooms {
    async fn samples(&self) -> Vec<Vec<Sample>> {
        let mut rooms = Vec::new();
        for members in &self.0 {
            let mut samples = Vec::new();
            for participant in members {
                let mut sample = Sample::default();
                if let Some(publisher) = &participant.publisher {
                    sample.add(&publisher.stats());
                }
                if let Some(subscriber) = participant.subscriber.lock().await.as_ref() {
                    sample.add(&subscriber.stats());
                }
                samples.push(sample);
            }
            rooms.push(samples);
        }
        rooms
    }
}

/// Shared between a participant and the task that keeps its subscription up to date.
type SubscriberMedia = Arc<tokio::sync::Mutex<Option<Media>>>;

/// One participant: a Janus session, a publishing engine, and a receiving engine once there is
/// someone to receive.
struct Participant {
    session: Arc<Session>,
    /// None for a participant who only receives (it joins as a publisher all the same, to
    /// be told about the room's publishers).
    publisher: Option<Media>,
    subscriber: SubscriberMedia,
    subscriptions: JoinHandle<()>,
}

impl Participant {
    /// Joins as a publisher, publishes, and leaves subscribing to a task; returns once Janus
    /// answered the publisher's offer.
    async fn join(
        api: &Api,
        room: u64,
        index: usize,
        publishes: bool,
        base_key: &[u8],
        bind_ip: IpAddr,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let sender_index = u32::try_from(index)?;
        let mut keyring = MediaKeyring::new(MEDIA_SUITE);
        keyring.install_epoch(started.elapsed(), 1, base_key, sender_index)?;
        let keys = Arc::new(Mutex::new(keyring));

        let (session, events) = Session::create(api).await?;
        let session = Arc::new(session);
        let handle = session.attach_videoroom().await?;
        let feed = u64::from(sender_index) + 1;
        let joined = session
            .message(
                handle,
                json!({
                    "request": "join",
                    "ptype": "publisher",
                    "room": room,
                    "id": feed,
                    "display": format!("p{room}-{index}"),
                }),
                None,
            )
            .await?;
        anyhow::ensure!(
            joined.data["videoroom"] == "joined",
            "Janus did not let us join: {}",
            joined.data
        );
        let publisher = if publishes {
            Some(publish(&session, handle, bind_ip, &keys, started).await?)
        } else {
            None
        };

        let subscriber = SubscriberMedia::default();
        let subscriptions = Subscriptions {
            session: session.clone(),
            room,
            own_feed: feed,
            publisher_handle: handle,
            handle: None,
            subscribed: HashSet::new(),
            media: subscriber.clone(),
            engine: MediaConfig {
                bind_ip,
                publish: None,
                suite: MEDIA_SUITE,
            },
            keys,
            started,
        };
        let existing = feeds(&joined.data);
        let subscriptions = tokio::spawn(subscriptions.run(existing, events));
        Ok(Self {
            session,
            publisher,
            subscriber,
            subscriptions,
        })
    }

    /// Destroys the session (Janus hangs up both peer connections) and stops the engines.
    async fn leave(self) {
        self.subscriptions.abort();
        self.session.destroy().await;
        if let Some(publisher) = self.publisher {
            publisher.stop().await;
        }
        if let Some(subscriber) = self.subscriber.lock().await.take() {
            subscriber.stop().await;
        }
    }
}

/// Publishes synthetic audio and video on the publisher handle; returns once Janus answered.
async fn publish(
    session: &Session,
    handle: u64,
    bind_ip: IpAddr,
    keys: &Arc<Mutex<MediaKeyring>>,
    started: Instant,
) -> anyhow::Result<Media> {
    let (publisher, offer) = Media::start(
        MediaConfig {
            bind_ip,
            publish: Some(SyntheticMedia {
                audio: true,
                video: true,
                simulcast: false,
            }),
            suite: MEDIA_SUITE,
        },
        keys.clone(),
        started,
    )
    .await?;
    let published = session
        .message(
            handle,
            json!({"request": "publish"}),
            Some(json!({"type": "offer", "sdp": offer})),
        )
        .await?;
    let answer = published
        .sdp("answer")
        .ok_or_else(|| anyhow!("Janus answered publish without SDP: {}", published.data))?;
    publisher.accept_answer(answer).await?;
    Ok(publisher)
}

/// Keeps a participant subscribed to every other publisher in its room: subscribes to those
/// present at join and to each one Janus announces later, and answers Janus's offers.
struct Subscriptions {
    session: Arc<Session>,
    room: u64,
    own_feed: u64,
    publisher_handle: u64,
    /// The subscriber handle, attached with the first subscription.
    handle: Option<u64>,
    subscribed: HashSet<u64>,
    media: SubscriberMedia,
    engine: MediaConfig,
    keys: Arc<Mutex<MediaKeyring>>,
    started: Instant,
}

impl Subscriptions {
    async fn run(mut self, existing: Vec<u64>, mut events: mpsc::UnboundedReceiver<Value>) {
        if let Err(e) = self.subscribe(existing).await {
            error!(room = self.room, feed = self.own_feed, error = %e, "subscribing on Janus");
        }
        while let Some(event) = events.recv().await {
            if let Err(e) = self.handle_event(&event).await {
                error!(room = self.room, feed = self.own_feed, error = %e, "Janus event {event}");
            }
        }
    }

    async fn handle_event(&mut self, event: &Value) -> anyhow::Result<()> {
        let sender = event["sender"].as_u64();
        match event["janus"].as_str() {
            Some("event") => {
                let reply = PluginReply::from_message(event)?;
                if sender == Some(self.publisher_handle) {
                    self.subscribe(feeds(&reply.data)).await?;
                } else if sender.is_some()
                    && sender == self.handle
                    && let Some(offer) = reply.sdp("offer")
                {
                    self.answer(offer).await?;
                }
            }
            Some("hangup") => {
                error!(room = self.room, feed = self.own_feed, %event, "Janus hung up");
            }
            _ => debug!(%event, "Janus event"),
        }
        Ok(())
    }

    /// Subscribes to those of `feeds` not subscribed yet: joins as a subscriber the first
    /// time, then adds streams to the subscription (Janus renegotiates either way).
    async fn subscribe(&mut self, feeds: Vec<u64>) -> anyhow::Result<()> {
        let new: Vec<Value> = feeds
            .into_iter()
            .filter(|&feed| feed != self.own_feed && self.subscribed.insert(feed))
            .map(|feed| json!({"feed": feed}))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        match self.handle {
            Some(handle) => {
                self.session
                    .send(
                        handle,
                        json!({"request": "subscribe", "streams": new}),
                        None,
                    )
                    .await
            }
            None => {
                let handle = self.session.attach_videoroom().await?;
                self.handle = Some(handle);
                let join = json!({
                    "request": "join",
                    "ptype": "subscriber",
                    "room": self.room,
                    "streams": new,
                });
                self.session.send(handle, join, None).await
            }
        }
    }

    /// Answers an offer from Janus on the subscriber handle, starting the receiving engine on
    /// the first one.
    async fn answer(&mut self, offer: &str) -> anyhow::Result<()> {
        let handle = self
            .handle
            .ok_or_else(|| anyhow!("an offer before any subscription"))?;
        let answer = {
            let mut media = self.media.lock().await;
            match media.as_ref() {
                Some(media) => media.accept_offer(offer).await?,
                None => {
                    let (engine, answer) =
                        Media::answer(self.engine.clone(), self.keys.clone(), self.started, offer)
                            .await?;
                    *media = Some(engine);
                    answer
                }
            }
        };
        self.session
            .send(
                handle,
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": answer})),
            )
            .await
    }
}

/// The publisher ids in a VideoRoom `joined` or `event` message.
fn feeds(data: &Value) -> Vec<u64> {
    data["publishers"]
        .as_array()
        .map(|publishers| publishers.iter().filter_map(|p| p["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_ids_are_read_from_joined_and_event_messages() {
        let joined = json!({"videoroom": "joined", "id": 3, "publishers": [
            {"id": 1, "display": "p-0", "streams": []},
            {"id": 2, "display": "p-1"}]});
        assert_eq!(feeds(&joined), [1, 2]);
        assert!(feeds(&json!({"videoroom": "event", "unpublished": 2})).is_empty());
    }
}
