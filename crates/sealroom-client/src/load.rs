//! `sealroom load`: many native participants in rooms of a given size, publishing synthetic
//! SFrame-protected media, with the figures a meeting server is judged by: join time, rekey time
//! after a leave, forwarded packets per second and the server's CPU time per forwarded packet
//! (read from /proc for the server's pid, apart from this generator's own).

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    media::SyntheticMedia,
    session::{JoinOptions, RoomClient, Status},
};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Server base URL.
    pub server: String,
    /// Participants in all.
    pub participants: usize,
    /// Participants per room.
    pub room_size: usize,
    /// Steady-state measurement window.
    pub duration: Duration,
    /// The server's process id, to read its CPU time; `None` skips CPU figures.
    pub server_pid: Option<u32>,
    /// Local IP for media.
    pub bind_ip: IpAddr,
}

/// The figures.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    /// Participants started.
    pub participants: usize,
    /// Participants per room.
    pub room_size: usize,
    /// Rooms.
    pub rooms: usize,
    /// Milliseconds from connecting to the first decrypted frame: median.
    pub join_time_p50_ms: Option<u64>,
    /// Same, 95th percentile.
    pub join_time_p95_ms: Option<u64>,
    /// Milliseconds from a participant leaving to every remaining member of its room having
    /// installed the new epoch: median over rooms.
    pub rekey_p50_ms: Option<u64>,
    /// Same, maximum.
    pub rekey_max_ms: Option<u64>,
    /// Video tracks decrypted from every other member, against those expected.
    pub streams_received: usize,
    /// Expected streams: participants × (room size − 1).
    pub streams_expected: usize,
    /// Frames that failed to decrypt, all participants, by reason.
    pub decrypt_failures: std::collections::BTreeMap<String, u64>,
    /// Packets the SFU forwarded per second during the window.
    pub forwarded_packets_per_s: f64,
    /// Payload bits the SFU forwarded per second.
    pub forwarded_bits_per_s: f64,
    /// Server CPU seconds used during the window.
    pub server_cpu_seconds: Option<f64>,
    /// Forwarded packets per server CPU-second.
    pub forwarded_packets_per_cpu_second: Option<f64>,
    /// Server CPU microseconds per forwarded packet.
    pub server_cpu_us_per_packet: Option<f64>,
    /// Server resident memory at the end, in MiB.
    pub server_rss_mib: Option<f64>,
}

/// Runs the plan.
pub async fn run(plan: LoadPlan) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(plan.room_size >= 2, "--room-size must be at least 2");
    anyhow::ensure!(
        plan.participants >= plan.room_size,
        "--participants must be at least --room-size"
    );
    let rooms = plan.participants / plan.room_size;
    let run_id: u32 = rand::random();

    // Join room by room, one participant at a time, as people trickle into meetings.
    let mut clients: Vec<Vec<RoomClient>> = Vec::new();
    for room in 0..rooms {
        let mut members = Vec::new();
        for i in 0..plan.room_size {
            members.push(
                RoomClient::join(JoinOptions {
                    server: plan.server.clone(),
                    room: format!("load-{run_id:08x}-{room}"),
                    display_name: format!("p{room}-{i}"),
                    publish: Some(SyntheticMedia {
                        audio: true,
                        video: true,
                        simulcast: false,
                    }),
                    bind_ip: plan.bind_ip,
                    password: None,
                    moderator_key: None,
                })
                .await?,
            );
        }
        clients.push(members);
    }
    // Let every room converge and media start flowing.
    for members in &clients {
        for client in members {
            let _ = client
                .wait_until(Duration::from_secs(60), |s| {
                    s.roster.len() == plan.room_size
                })
                .await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let metrics_before = scrape(&plan.server).await?;
    let cpu_before = plan.server_pid.and_then(process_cpu_seconds);
    let window_start = Instant::now();
    tokio::time::sleep(plan.duration).await;
    let window = window_start.elapsed().as_secs_f64();
    let metrics_after = scrape(&plan.server).await?;
    let cpu_after = plan.server_pid.and_then(process_cpu_seconds);

    let mut join_times = Vec::new();
    let mut streams_received = 0;
    let mut decrypt_failures = std::collections::BTreeMap::<String, u64>::new();
    for members in &clients {
        for client in members {
            let Some(stats) = client.media_stats().await else {
                continue;
            };
            if let Some(t) = stats.first_decrypted_at {
                join_times.push(t.as_millis() as u64);
            }
            streams_received += stats
                .per_sender
                .values()
                .filter(|s| s.video_frames > 0)
                .count();
            for (reason, count) in &stats.decrypt_failures {
                *decrypt_failures.entry(reason.clone()).or_default() += count;
            }
        }
    }

    // One leave per room: time until every remaining member installed the next epoch.
    let mut rekey_times = Vec::new();
    for mut members in clients {
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

    let packets = metrics_after
        .forwarded_packets
        .saturating_sub(metrics_before.forwarded_packets);
    let bytes = metrics_after
        .forwarded_bytes
        .saturating_sub(metrics_before.forwarded_bytes);
    let cpu = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| after - before);
    join_times.sort_unstable();
    rekey_times.sort_unstable();
    Ok(LoadReport {
        participants: rooms * plan.room_size,
        room_size: plan.room_size,
        rooms,
        join_time_p50_ms: percentile(&join_times, 0.50),
        join_time_p95_ms: percentile(&join_times, 0.95),
        rekey_p50_ms: percentile(&rekey_times, 0.50),
        rekey_max_ms: rekey_times.last().copied(),
        streams_received,
        streams_expected: rooms * plan.room_size * (plan.room_size - 1),
        decrypt_failures,
        forwarded_packets_per_s: packets as f64 / window,
        forwarded_bits_per_s: bytes as f64 * 8.0 / window,
        server_cpu_seconds: cpu,
        forwarded_packets_per_cpu_second: cpu.filter(|c| *c > 0.0).map(|c| packets as f64 / c),
        server_cpu_us_per_packet: cpu
            .filter(|_| packets > 0)
            .map(|c| c * 1e6 / packets as f64),
        server_rss_mib: plan.server_pid.and_then(process_rss_mib),
    })
}

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(rank).copied()
}

struct ForwardingTotals {
    forwarded_packets: u64,
    forwarded_bytes: u64,
}

/// Reads the SFU's totals from the server's Prometheus endpoint.
async fn scrape(server: &str) -> anyhow::Result<ForwardingTotals> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = server
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("load needs an http:// server URL"))?
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or(0)
    };
    Ok(ForwardingTotals {
        forwarded_packets: value("sealroom_forwarded_packets_total "),
        forwarded_bytes: value("sealroom_forwarded_bytes_total "),
    })
}

/// utime + stime of a process, in seconds (Linux /proc).
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

fn process_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// USER_HZ is 100 on every Linux architecture Sealroom runs on.
fn clock_ticks_per_second() -> f64 {
    100.0
}
