//! Chat under load (Sealroom only): after the media window, each room's members take turns
//! sending end-to-end encrypted chat messages at a steady rate, and every other member's client
//! measures each message's delivery: from the sender's client stamping it (`sent_at`, inside
//! the encryption) to the receiver's core handing it out decrypted. Sender and receiver share
//! this process's clock.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::figures::percentile;
use crate::session::{ChatEvent, RoomClient, unix_millis};

/// How long receivers are waited for after the last message is sent.
const DRAIN: Duration = Duration::from_secs(3);

/// What the chat phase measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChatFigures {
    /// Messages sent per second in each room.
    pub rate_per_room: f64,
    /// Messages sent, all rooms together.
    pub sent: u64,
    /// Deliveries expected: each message to every other member of its room.
    pub expected: u64,
    /// Deliveries that came.
    pub delivered: u64,
    /// Send-to-decrypted delivery time, median, ms.
    pub p50_ms: Option<u64>,
    /// Same, 99th percentile.
    pub p99_ms: Option<u64>,
}

/// Sends `rate` messages per second in each room for `duration`, round-robin over its members,
/// and measures their delivery.
pub(super) async fn measure(
    rooms: &mut [Vec<RoomClient>],
    rate: f64,
    duration: Duration,
) -> ChatFigures {
    let (latencies, mut measured) = mpsc::unbounded_channel();
    let listeners: Vec<_> = rooms
        .iter_mut()
        .flatten()
        .filter_map(RoomClient::take_chat)
        .map(|chat| tokio::spawn(time_deliveries(chat, latencies.clone())))
        .collect();
    let per_room = send_steadily(rooms, rate, duration).await;
    tokio::time::sleep(DRAIN).await;
    for listener in listeners {
        listener.abort();
    }
    drop(latencies);
    let mut times = Vec::new();
    while let Some(ms) = measured.recv().await {
        times.push(ms);
    }
    times.sort_unstable();
    let receivers: u64 = rooms.iter().map(|r| r.len().saturating_sub(1) as u64).sum();
    ChatFigures {
        rate_per_room: rate,
        sent: per_room * rooms.len() as u64,
        expected: per_room * receivers,
        delivered: times.len() as u64,
        p50_ms: percentile(&times, 0.50),
        p99_ms: percentile(&times, 0.99),
    }
}

/// Sends one message per room every `1 / rate` seconds until `duration` has passed; returns
/// how many each room sent.
async fn send_steadily(rooms: &[Vec<RoomClient>], rate: f64, duration: Duration) -> u64 {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A tick missed on a loaded machine is not made up in a burst: the rate stays the rate.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + duration;
    let mut sent = 0;
    while Instant::now() < end {
        ticker.tick().await;
        for members in rooms.iter().filter(|m| !m.is_empty()) {
            let sender = &members[sent as usize % members.len()];
            sender.send_chat(&format!("load message {sent}"), None);
        }
        sent += 1;
    }
    sent
}

/// Passes on, for every message a client's chat brings, how long ago it was sent.
async fn time_deliveries(
    mut chat: mpsc::UnboundedReceiver<ChatEvent>,
    latencies: mpsc::UnboundedSender<u64>,
) {
    while let Some(event) = chat.recv().await {
        if let ChatEvent::Message(entry) = event {
            let _ = latencies.send(unix_millis().saturating_sub(entry.sent_at));
        }
    }
}
