//! `sealroom load`: many native participants in rooms of a given size, each publishing synthetic
//! SFrame-protected audio and video and receiving everyone else in its room, against a Sealroom
//! server or, for comparison, Janus's VideoRoom plugin. Both targets get the same topology, the
//! same synthetic streams and the same SFrame work per frame, and are measured the same way:
//! join time, streams and frames delivered, send-to-receive latency (the send time rides inside
//! the encrypted payload; sender and receiver share this process's clock), packets and bits the
//! SFU forwarded (counted where they arrive), and the SFU process's CPU time and peak memory
//! (read from /proc for its pid, apart from this generator's own).

mod chat;
mod figures;
mod janus;
mod process;
mod sealroom;

use std::{net::IpAddr, time::Duration};

use serde::Serialize;

pub use chat::ChatFigures;
pub use figures::{Comparison, LoadReport};

/// Which SFU to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `sealroom serve`: signalling over WebSocket, MLS, the str0m SFU.
    Sealroom,
    /// Janus's VideoRoom plugin over its HTTP (long-poll) API. Keys are handed out by the load
    /// generator instead of MLS; the media and its SFrame protection are the same.
    Janus,
}

impl Target {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sealroom => "sealroom",
            Self::Janus => "janus",
        }
    }
}

/// What to run, whatever the target.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Participants in all; rounded down to whole rooms.
    pub participants: usize,
    /// Participants per room.
    pub room_size: usize,
    /// Participants per room who publish audio and video (the first ones to join); the others
    /// only receive, as most people in a large meeting. Everyone receives every publisher.
    pub publishers: usize,
    /// Steady-state measurement window.
    pub duration: Duration,
    /// Local IP for media.
    pub bind_ip: IpAddr,
    /// Sealroom only: chat messages per second in each room, sent for `duration` after the
    /// media window; 0 for none.
    pub chat_rate: f64,
}

/// Where the SFU under load is.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// A Sealroom server.
    Sealroom {
        /// Base URL, e.g. `http://127.0.0.1:8080`.
        server: String,
        /// Its process id, for CPU time and memory; `None` skips those figures.
        pid: Option<u32>,
        /// Its `/metrics` bearer token; `None` skips the server's own packet count.
        metrics_token: Option<String>,
    },
    /// A Janus server.
    Janus {
        /// The Janus API's HTTP URL, e.g. `http://127.0.0.1:8088/janus`.
        url: String,
        /// Its process id, for CPU time and memory; `None` skips those figures.
        pid: Option<u32>,
    },
}

impl LoadPlan {
    /// Whether the participant joining a room as `index` (from 0) publishes.
    pub fn publishes(&self, index: usize) -> bool {
        index < self.publishers
    }

    /// The videos participant `index` of a room receives: every other publisher's.
    pub fn videos_received(&self, index: usize) -> usize {
        self.publishers - usize::from(self.publishes(index))
    }
}

impl Endpoint {
    /// The target this endpoint is.
    pub fn target(&self) -> Target {
        match self {
            Self::Sealroom { .. } => Target::Sealroom,
            Self::Janus { .. } => Target::Janus,
        }
    }
}

/// Runs the plan against one SFU.
pub async fn run(plan: &LoadPlan, endpoint: &Endpoint) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(plan.room_size >= 2, "--room-size must be at least 2");
    anyhow::ensure!(
        plan.participants >= plan.room_size,
        "--participants must be at least --room-size"
    );
    anyhow::ensure!(
        (1..=plan.room_size).contains(&plan.publishers),
        "--publishers must be between 1 and --room-size"
    );
    match endpoint {
        Endpoint::Sealroom {
            server,
            pid,
            metrics_token,
        } => sealroom::run(plan, server, *pid, metrics_token.as_deref()).await,
        Endpoint::Janus { url, pid } => janus::run(plan, url, *pid).await,
    }
}
