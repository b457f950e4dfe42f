//! The Sealroom target: every participant is a full native client (WebSocket signalling, MLS,
//! one str0m peer connection to the SFU). After the window one participant per room leaves, and
//! the time until the rest of its room installed the next MLS epoch is measured.

use std::time::{Duration, Instant};

use sealroom_e2ee::LinkSecret;

use super::{
    LoadPlan, LoadReport, Target, chat,
    figures::{self, Participants, Sample},
    process,
};
use crate::{
    media::SyntheticMedia,
    session::{JoinOptions, RoomClient, Status},
};

struct Rooms<'a> {
    server: &'a str,
    metrics_token: Option<&'a str>,
    clients: Vec<Vec<RoomClient>>,
}

impl Participants for Rooms<'_> {
    async fn samples(&self) -> Vec<Vec<Sample>> {
        let mut rooms = Vec::new();
        for members in &self.clients {
            let mut samples = Vec::new();
            for client in members {
                let mut sample = Sample::default();
                if let Some(stats) = client.media_stats().await {
                    sample.add(&stats);
                }
                samples.push(sample);
            }
            rooms.push(samples);
        }
        rooms
    }

    async fn server_counted_packets(&self) -> Option<u64> {
        let token = self.metrics_token?;
        match scrape(self.server, token).await {
            Ok(forwarded) => Some(forwarded),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the server's /metrics");
                None
            }
        }
    }
}

pub(super) async fn run(
    plan: &LoadPlan,
    server: &str,
    pid: Option<u32>,
    metrics_token: Option<&str>,
) -> anyhow::Result<LoadReport> {
    let rooms = plan.participants / plan.room_size;
    let run_id: u32 = rand::random();
    let load_average_before = process::load_average();

    // Join room by room, one participant at a time, as people trickle into meetings.
    let mut clients: Vec<Vec<RoomClient>> = Vec::new();
    for room in 0..rooms {
        // Everyone in a room comes with its link, as people do who were sent one.
        let link = LinkSecret::generate()?.to_text();
        let mut members = Vec::new();
        for i in 0..plan.room_size {
            members.push(
                RoomClient::join(JoinOptions {
                    server: server.to_owned(),
                    room: format!("load-{run_id:08x}-{room}"),
                    display_name: format!("p{room}-{i}"),
                    publish: plan.publishes(i).then_some(SyntheticMedia {
                        audio: true,
                        video: true,
                        simulcast: false,
                    }),
                    bind_ip: plan.bind_ip,
                    password: None,
                    moderator_key: None,
                    ca_file: None,
                    reconnect: false,
                    session_token: None,
                    link: Some(link.clone()),
                    device_key: None,
                })
                .await?,
            );
        }
        clients.push(members);
    }
    // Every room converges on its full MLS group before media is waited for.
    for members in &clients {
        for client in members {
            let _ = client
                .wait_until(Duration::from_secs(60), |s| {
                    s.roster.len() == plan.room_size
                })
                .await;
        }
    }

    let mut rooms_of_clients = Rooms {
        server,
        metrics_token,
        clients,
    };
    let measurement = figures::measure(plan, &rooms_of_clients, pid).await;
    let mut report = LoadReport::new(
        Target::Sealroom,
        plan,
        rooms,
        1,
        &measurement,
        load_average_before,
    );

    if plan.chat_rate > 0.0 {
        let chat = chat::measure(&mut rooms_of_clients.clients, plan.chat_rate, plan.duration);
        report.chat = Some(chat.await);
    }

    // One leave per room: time until every remaining member installed the next epoch.
    let mut rekey_times = Vec::new();
    for mut members in rooms_of_clients.clients {
        let Some(leaver) = members.pop() else {
            continue;
        };
        let epoch_before = leaver.status().epoch;
        let left_at = Instant::now();
        leaver.leave().await;
        let mut slowest = Duration::ZERO;
        for client in &members {
            let rekeyed =
                |s: &Status| s.epoch > epoch_before && s.roster.len() == plan.room_size - 1;
            if client
                .wait_until(Duration::from_secs(30), rekeyed)
                .await
                .is_ok()
            {
                slowest = slowest.max(left_at.elapsed());
            }
        }
        rekey_times.push(slowest.as_millis() as u64);
        for client in members {
            client.leave().await;
        }
    }
    rekey_times.sort_unstable();
    report.rekey_p50_ms = figures::percentile(&rekey_times, 0.50);
    report.rekey_max_ms = rekey_times.last().copied();
    Ok(report)
}

/// Reads the SFU's forwarded-packet total from the server's Prometheus endpoint.
async fn scrape(server: &str, token: &str) -> anyhow::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = server
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("load needs an http:// server URL"))?
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream
        .write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("sealroom_forwarded_packets_total ")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|v| v as u64)
        .ok_or_else(|| anyhow::anyhow!("no sealroom_forwarded_packets_total in /metrics"))
}
