//! The figures of a load run, the same for every target: what the participants' media engines
//! counted during the window, what the SFU process used, and the report and table built from
//! them.

use std::{
    collections::BTreeMap,
    fmt,
    time::{Duration, Instant},
};

use serde::Serialize;

use super::{LoadPlan, Target, process};
use crate::media::{LatencyHistogram, MediaStats};

/// What one participant's media engines counted so far (Janus gives a participant two: one
/// that publishes, one that receives).
#[derive(Clone, Debug, Default)]
pub(super) struct Sample {
    frames_sent: u64,
    rtp_packets_sent: u64,
    frames_received: u64,
    rtp_packets_received: u64,
    rtp_bytes_received: u64,
    /// Video frames decrypted, by sender index.
    video_frames_by_sender: BTreeMap<u32, u64>,
    decrypt_failures: BTreeMap<String, u64>,
    first_decrypted_at: Option<Duration>,
    latency: LatencyHistogram,
}

impl Sample {
    /// Adds one media engine's counters.
    pub(super) fn add(&mut self, stats: &MediaStats) {
        self.frames_sent += stats.audio_frames_sent + stats.video_frames_sent;
        self.rtp_packets_sent += stats.rtp_packets_sent;
        self.rtp_packets_received += stats.rtp_packets_received;
        self.rtp_bytes_received += stats.rtp_bytes_received;
        for (sender, from) in &stats.per_sender {
            self.frames_received += from.audio_frames + from.video_frames;
            *self.video_frames_by_sender.entry(*sender).or_default() += from.video_frames;
        }
        for (reason, count) in &stats.decrypt_failures {
            *self.decrypt_failures.entry(reason.clone()).or_default() += count;
        }
        self.first_decrypted_at = match (self.first_decrypted_at, stats.first_decrypted_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.latency.merge(&stats.latency);
    }

    /// Video senders this participant decrypted anything from.
    pub(super) fn video_senders(&self) -> usize {
        self.video_frames_by_sender
            .values()
            .filter(|&&frames| frames > 0)
            .count()
    }

    /// What was counted after `earlier`.
    fn since(&self, earlier: &Self) -> Self {
        Self {
            frames_sent: self.frames_sent.saturating_sub(earlier.frames_sent),
            rtp_packets_sent: self
                .rtp_packets_sent
                .saturating_sub(earlier.rtp_packets_sent),
            frames_received: self.frames_received.saturating_sub(earlier.frames_received),
            rtp_packets_received: self
                .rtp_packets_received
                .saturating_sub(earlier.rtp_packets_received),
            rtp_bytes_received: self
                .rtp_bytes_received
                .saturating_sub(earlier.rtp_bytes_received),
            video_frames_by_sender: minus(
                &self.video_frames_by_sender,
                &earlier.video_frames_by_sender,
            ),
            decrypt_failures: minus(&self.decrypt_failures, &earlier.decrypt_failures),
            first_decrypted_at: self.first_decrypted_at,
            latency: self.latency.since(&earlier.latency),
        }
    }
}

/// `a - b`, key by key.
fn minus<K: Ord + Clone>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
    a.iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(b.get(k).copied().unwrap_or(0))))
        .collect()
}

/// The participants of a run, room by room, as a target holds them.
pub(super) trait Participants {
    /// Every participant's counters so far, room by room.
    async fn samples(&self) -> Vec<Vec<Sample>>;

    /// The packets the SFU counts as forwarded so far, if it keeps such a count.
    async fn server_counted_packets(&self) -> Option<u64> {
        None
    }
}

/// What was measured between two snapshots.
pub(super) struct Measurement {
    start: Vec<Vec<Sample>>,
    end: Vec<Vec<Sample>>,
    seconds: f64,
    cpu_seconds: Option<f64>,
    generator_cpu_seconds: Option<f64>,
    machine_cpu_seconds: Option<f64>,
    peak_memory_mib: Option<f64>,
    rss_mib: Option<f64>,
    server_counted_packets: Option<u64>,
    udp_buffer_drops: Option<(u64, u64)>,
    load_average_at_end: Option<[f64; 3]>,
}

/// Waits (up to a minute) until every participant decrypts video from everyone else in its
/// room, lets the streams settle for 2 s, then measures `plan.duration`.
pub(super) async fn measure(
    plan: &LoadPlan,
    participants: &impl Participants,
    pid: Option<u32>,
) -> Measurement {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let samples = participants.samples().await;
        let all_flowing = samples.iter().all(|room| {
            room.iter()
                .enumerate()
                .all(|(index, s)| s.video_senders() >= plan.videos_received(index))
        });
        if all_flowing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let start = participants.samples().await;
    let counted_before = participants.server_counted_packets().await;
    let udp_before = process::udp_buffer_drops();
    let cpu_before = pid.and_then(process::cpu_seconds);
    let own_cpu_before = process::cpu_seconds(std::process::id());
    let machine_before = process::machine_busy_seconds();
    let started = Instant::now();
    tokio::time::sleep(plan.duration).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = pid.and_then(process::cpu_seconds);
    let own_cpu_after = process::cpu_seconds(std::process::id());
    let machine_after = process::machine_busy_seconds();
    let udp_after = process::udp_buffer_drops();
    let counted_after = participants.server_counted_packets().await;
    let end = participants.samples().await;
    Measurement {
        start,
        end,
        seconds,
        cpu_seconds: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
        generator_cpu_seconds: own_cpu_before
            .zip(own_cpu_after)
            .map(|(before, after)| after - before),
        machine_cpu_seconds: machine_before
            .zip(machine_after)
            .map(|(before, after)| after - before),
        peak_memory_mib: pid.and_then(|pid| process::memory_mib(pid, "VmHWM")),
        rss_mib: pid.and_then(|pid| process::memory_mib(pid, "VmRSS")),
        server_counted_packets: counted_before
            .zip(counted_after)
            .map(|(before, after)| after.saturating_sub(before)),
        udp_buffer_drops: udp_before
            .zip(udp_after)
            .map(|((rx0, tx0), (rx1, tx1))| (rx1.saturating_sub(rx0), tx1.saturating_sub(tx0))),
        load_average_at_end: process::load_average(),
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The SFU under load.
    pub target: Target,
    /// Participants started (whole rooms).
    pub participants: usize,
    /// Participants per room.
    pub room_size: usize,
    /// Rooms.
    pub rooms: usize,
    /// Participants publishing (Opus-like audio and VP8-like video each).
    pub publishers: usize,
    /// Participants receiving everyone else in their room.
    pub subscribers: usize,
    /// WebRTC peer connections the SFU holds: one per participant for Sealroom, two for Janus
    /// (a publisher and a multistream subscriber handle).
    pub peer_connections: usize,
    /// Length of the measurement window, seconds.
    pub window_seconds: f64,
    /// Milliseconds from a participant starting to join to its first decrypted frame: median.
    pub join_time_p50_ms: Option<u64>,
    /// Same, 95th percentile.
    pub join_time_p95_ms: Option<u64>,
    /// (publisher, receiver) video streams that delivered decrypted frames in the window.
    pub streams_received: usize,
    /// Expected streams: participants × (room size − 1).
    pub streams_expected: usize,
    /// Frames each publisher sent per second in the window, on average: 80 (50 audio, 30
    /// video) when the load generator keeps up, fewer when it is short of CPU (a late frame
    /// slot is skipped, not sent in a burst).
    pub frames_sent_per_publisher_per_s: f64,
    /// Frames the publishers sent in the window times the receivers in their room.
    pub frames_expected: u64,
    /// Frames the receivers decrypted in the window.
    pub frames_received: u64,
    /// 1 − received/expected frames, end to end (a frame is lost when a packet of it is lost
    /// for good, or it does not decrypt).
    pub frame_loss: Option<f64>,
    /// RTP packets the publishers sent in the window times the receivers in their room.
    pub rtp_packets_expected: u64,
    /// RTP packets the receivers got in the window (retransmissions included).
    pub rtp_packets_received: u64,
    /// 1 − received/expected RTP packets, net of retransmissions (negative values are shown
    /// as 0).
    pub packet_loss: Option<f64>,
    /// UDP datagrams the kernel dropped in the window because a socket's receive buffer was
    /// full, all sockets of the network namespace (`RcvbufErrors` of /proc/net/snmp).
    pub udp_receive_buffer_drops: Option<u64>,
    /// The same for send buffers (`SndbufErrors`).
    pub udp_send_buffer_drops: Option<u64>,
    /// Frames that failed to decrypt during the whole run, by reason.
    pub decrypt_failures: BTreeMap<String, u64>,
    /// Of those, how many failed during the window.
    pub decrypt_failures_in_window: u64,
    /// Send-to-receive latency of decrypted frames in the window (synthetic send time inside
    /// the encrypted payload, same clock), median, ms.
    pub latency_p50_ms: Option<f64>,
    /// Same, 99th percentile.
    pub latency_p99_ms: Option<f64>,
    /// RTP packets per second the SFU forwarded, counted where they arrive.
    pub forwarded_packets_per_s: f64,
    /// Bits per second of those packets as they arrive (SRTP: RTP header, payload, tag).
    pub forwarded_bits_per_s: f64,
    /// The SFU process's CPU seconds (user + system) during the window.
    pub server_cpu_seconds: Option<f64>,
    /// This load generator's own CPU seconds during the window (all its participants' media
    /// engines: protecting, sending, receiving, decrypting); it shares the machine with the SFU.
    pub generator_cpu_seconds: Option<f64>,
    /// CPU seconds every process on the machine used during the window (SFU, generator, and
    /// whatever else runs: the rest is other work competing for the same CPUs).
    pub machine_cpu_seconds: Option<f64>,
    /// Forwarded packets per SFU CPU-second.
    pub forwarded_packets_per_cpu_second: Option<f64>,
    /// Forwarded bits per SFU CPU-second.
    pub forwarded_bits_per_cpu_second: Option<f64>,
    /// SFU CPU microseconds per forwarded packet.
    pub server_cpu_us_per_packet: Option<f64>,
    /// The SFU process's peak resident memory (VmHWM) at the end of the window, MiB.
    pub server_peak_memory_mib: Option<f64>,
    /// Its resident memory (VmRSS) at the end of the window, MiB.
    pub server_rss_mib: Option<f64>,
    /// Peak memory divided by participants, MiB (the process's baseline included).
    pub memory_per_participant_mib: Option<f64>,
    /// Sealroom only: milliseconds from a participant leaving to every remaining member of its
    /// room having installed the new MLS epoch, median over rooms.
    pub rekey_p50_ms: Option<u64>,
    /// Same, maximum.
    pub rekey_max_ms: Option<u64>,
    /// Sealroom only, with a chat rate: chat delivery figures.
    pub chat: Option<super::ChatFigures>,
    /// Sealroom only: forwarded packets per second by the server's own counter (`/metrics`).
    pub server_counted_packets_per_s: Option<f64>,
    /// /proc/loadavg (1, 5, 15 minutes) before the participants joined.
    pub load_average_before: Option<[f64; 3]>,
    /// The same at the end of the window.
    pub load_average_after: Option<[f64; 3]>,
}

impl LoadReport {
    /// The figures of `measurement`; rekey times are left for the caller.
    pub(super) fn new(
        target: Target,
        plan: &LoadPlan,
        rooms: usize,
        peer_connections_per_participant: usize,
        measurement: &Measurement,
        load_average_before: Option<[f64; 3]>,
    ) -> Self {
        let participants = rooms * plan.room_size;
        let publishers = rooms * plan.publishers;
        let receivers = plan.room_size as u64 - 1;
        let mut join_times = Vec::new();
        let mut streams_received = 0;
        let mut frames_sent = 0;
        let mut frames_expected = 0;
        let mut frames_received = 0;
        let mut rtp_packets_expected = 0;
        let mut rtp_packets_received = 0;
        let mut rtp_bytes_received = 0;
        let mut decrypt_failures = BTreeMap::<String, u64>::new();
        let mut decrypt_failures_in_window = 0;
        let mut latency = LatencyHistogram::default();
        for (start, end) in measurement.start.iter().zip(&measurement.end) {
            for (start, end) in start.iter().zip(end) {
                let window = end.since(start);
                if let Some(at) = end.first_decrypted_at {
                    join_times.push(at.as_millis() as u64);
                }
                streams_received += window.video_senders();
                frames_sent += window.frames_sent;
                frames_expected += window.frames_sent * receivers;
                frames_received += window.frames_received;
                rtp_packets_expected += window.rtp_packets_sent * receivers;
                rtp_packets_received += window.rtp_packets_received;
                rtp_bytes_received += window.rtp_bytes_received;
                for (reason, count) in &end.decrypt_failures {
                    *decrypt_failures.entry(reason.clone()).or_default() += count;
                }
                decrypt_failures_in_window += window.decrypt_failures.values().sum::<u64>();
                latency.merge(&window.latency);
            }
        }
        join_times.sort_unstable();
        let loss = |received: u64, expected: u64| {
            (expected > 0).then(|| (1.0 - received as f64 / expected as f64).max(0.0))
        };
        let seconds = measurement.seconds;
        let cpu = measurement.cpu_seconds.filter(|c| *c > 0.0);
        let packets = rtp_packets_received as f64;
        let bits = rtp_bytes_received as f64 * 8.0;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        Self {
            target,
            participants,
            room_size: plan.room_size,
            rooms,
            publishers,
            subscribers: participants,
            peer_connections: participants * peer_connections_per_participant,
            window_seconds: seconds,
            join_time_p50_ms: percentile(&join_times, 0.50),
            join_time_p95_ms: percentile(&join_times, 0.95),
            streams_received,
            streams_expected: publishers * (plan.room_size - 1),
            frames_sent_per_publisher_per_s: frames_sent as f64
                / seconds
                / publishers.max(1) as f64,
            frames_expected,
            frames_received,
            frame_loss: loss(frames_received, frames_expected),
            rtp_packets_expected,
            rtp_packets_received,
            packet_loss: loss(rtp_packets_received, rtp_packets_expected),
            udp_receive_buffer_drops: measurement.udp_buffer_drops.map(|(rx, _)| rx),
            udp_send_buffer_drops: measurement.udp_buffer_drops.map(|(_, tx)| tx),
            decrypt_failures,
            decrypt_failures_in_window,
            latency_p50_ms: latency.quantile(0.50).map(ms),
            latency_p99_ms: latency.quantile(0.99).map(ms),
            forwarded_packets_per_s: packets / seconds,
            forwarded_bits_per_s: bits / seconds,
            server_cpu_seconds: measurement.cpu_seconds,
            generator_cpu_seconds: measurement.generator_cpu_seconds,
            machine_cpu_seconds: measurement.machine_cpu_seconds,
            forwarded_packets_per_cpu_second: cpu.map(|c| packets / c),
            forwarded_bits_per_cpu_second: cpu.map(|c| bits / c),
            server_cpu_us_per_packet: measurement
                .cpu_seconds
                .filter(|_| packets > 0.0)
                .map(|c| c * 1e6 / packets),
            server_peak_memory_mib: measurement.peak_memory_mib,
            server_rss_mib: measurement.rss_mib,
            memory_per_participant_mib: measurement
                .peak_memory_mib
                .map(|m| m / participants as f64),
            rekey_p50_ms: None,
            rekey_max_ms: None,
            chat: None,
            server_counted_packets_per_s: measurement
                .server_counted_packets
                .map(|p| p as f64 / seconds),
            load_average_before,
            load_average_after: measurement.load_average_at_end,
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub(super) fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(rank).copied()
}

/// One or more runs, and Sealroom's figures over Janus's when both ran.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The runs, in the order they ran.
    pub reports: Vec<LoadReport>,
    /// Sealroom's figure divided by Janus's.
    pub sealroom_over_janus: Option<Ratios>,
}

/// Sealroom's figures over Janus's: above 1 Sealroom has more of it.
#[derive(Debug, Serialize)]
pub struct Ratios {
    /// Forwarded packets per SFU CPU-second (higher is better).
    pub forwarded_packets_per_cpu_second: Option<f64>,
    /// Forwarded bits per SFU CPU-second (higher is better).
    pub forwarded_bits_per_cpu_second: Option<f64>,
    /// SFU peak memory per participant (lower is better).
    pub memory_per_participant: Option<f64>,
    /// Median send-to-receive latency (lower is better).
    pub latency_p50: Option<f64>,
}

impl Comparison {
    /// Puts the runs side by side.
    pub fn new(reports: Vec<LoadReport>) -> Self {
        let of = |target| reports.iter().find(|r| r.target == target);
        let sealroom_over_janus = of(Target::Sealroom).zip(of(Target::Janus)).map(|(s, j)| {
            let ratio = |f: fn(&LoadReport) -> Option<f64>| {
                f(s).zip(f(j)).filter(|(_, j)| *j > 0.0).map(|(s, j)| s / j)
            };
            Ratios {
                forwarded_packets_per_cpu_second: ratio(|r| r.forwarded_packets_per_cpu_second),
                forwarded_bits_per_cpu_second: ratio(|r| r.forwarded_bits_per_cpu_second),
                memory_per_participant: ratio(|r| r.memory_per_participant_mib),
                latency_p50: ratio(|r| r.latency_p50_ms),
            }
        });
        Self {
            reports,
            sealroom_over_janus,
        }
    }
}

/// A table: one row per figure, one column per run, and Sealroom/Janus where both ran.
impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratios = self.sealroom_over_janus.as_ref();
        // Label, one cell per run, and the ratio cell when there is a ratio column.
        struct Row {
            label: &'static str,
            cells: Vec<String>,
            ratio: Option<Option<f64>>,
        }
        let mut rows = Vec::new();
        let mut row = |label, cell: &dyn Fn(&LoadReport) -> String, ratio: fn(&Ratios) -> _| {
            rows.push(Row {
                label,
                cells: self.reports.iter().map(cell).collect(),
                ratio: ratios.map(ratio),
            });
        };
        row(
            "participants",
            &|r| format!("{} ({} rooms of {})", r.participants, r.rooms, r.room_size),
            |_| None,
        );
        row(
            "publishers / subscribers",
            &|r| format!("{} / {}", r.publishers, r.subscribers),
            |_| None,
        );
        row(
            "peer connections",
            &|r| r.peer_connections.to_string(),
            |_| None,
        );
        row(
            "video streams received",
            &|r| format!("{}/{}", r.streams_received, r.streams_expected),
            |_| None,
        );
        row(
            "frames sent/s per publisher",
            &|r| format!("{:.1}", r.frames_sent_per_publisher_per_s),
            |_| None,
        );
        row(
            "frame loss (end to end)",
            &|r| {
                percent(
                    r.frame_loss,
                    r.frames_expected.saturating_sub(r.frames_received),
                )
            },
            |_| None,
        );
        row(
            "packet loss (net of RTX)",
            &|r| {
                percent(
                    r.packet_loss,
                    r.rtp_packets_expected
                        .saturating_sub(r.rtp_packets_received),
                )
            },
            |_| None,
        );
        row(
            "UDP buffer drops rx / tx",
            &|r| {
                format!(
                    "{} / {}",
                    int(r.udp_receive_buffer_drops),
                    int(r.udp_send_buffer_drops)
                )
            },
            |_| None,
        );
        row(
            "decrypt failures window/run",
            &|r| {
                let run: u64 = r.decrypt_failures.values().sum();
                format!("{} / {run}", r.decrypt_failures_in_window)
            },
            |_| None,
        );
        row(
            "join time p50 / p95",
            &|r| {
                format!(
                    "{} / {} ms",
                    int(r.join_time_p50_ms),
                    int(r.join_time_p95_ms)
                )
            },
            |_| None,
        );
        row(
            "latency p50 / p99",
            &|r| {
                format!(
                    "{} / {} ms",
                    float(r.latency_p50_ms, 2),
                    float(r.latency_p99_ms, 2)
                )
            },
            |r| r.latency_p50,
        );
        row(
            "forwarded packets/s",
            &|r| grouped(r.forwarded_packets_per_s),
            |_| None,
        );
        row(
            "forwarded Mbit/s",
            &|r| format!("{:.1}", r.forwarded_bits_per_s / 1e6),
            |_| None,
        );
        row(
            "SFU CPU-seconds",
            &|r| {
                format!(
                    "{} in {:.1} s",
                    float(r.server_cpu_seconds, 2),
                    r.window_seconds
                )
            },
            |_| None,
        );
        row(
            "load generator CPU-seconds",
            &|r| float(r.generator_cpu_seconds, 2),
            |_| None,
        );
        row(
            "machine busy CPU-seconds",
            &|r| {
                format!(
                    "{} of {:.0}",
                    float(r.machine_cpu_seconds, 2),
                    r.window_seconds * cpus()
                )
            },
            |_| None,
        );
        row(
            "packets per SFU CPU-second",
            &|r| {
                r.forwarded_packets_per_cpu_second
                    .map_or("-".into(), grouped)
            },
            |r| r.forwarded_packets_per_cpu_second,
        );
        row(
            "Mbit per SFU CPU-second",
            &|r| float(r.forwarded_bits_per_cpu_second.map(|b| b / 1e6), 1),
            |r| r.forwarded_bits_per_cpu_second,
        );
        row(
            "SFU CPU per packet",
            &|r| format!("{} µs", float(r.server_cpu_us_per_packet, 2)),
            |_| None,
        );
        row(
            "SFU peak memory (VmHWM)",
            &|r| format!("{} MiB", float(r.server_peak_memory_mib, 1)),
            |_| None,
        );
        row(
            "memory per participant",
            &|r| format!("{} MiB", float(r.memory_per_participant_mib, 2)),
            |r| r.memory_per_participant,
        );
        if self.reports.iter().any(|r| r.target == Target::Sealroom) {
            row(
                "rekey after a leave p50 / max",
                &|r| match r.target {
                    Target::Sealroom => {
                        format!("{} / {} ms", int(r.rekey_p50_ms), int(r.rekey_max_ms))
                    }
                    Target::Janus => "n/a (no MLS)".into(),
                },
                |_| None,
            );
            row(
                "chat delivery p50 / p99",
                &|r| match &r.chat {
                    Some(chat) => format!(
                        "{} / {} ms ({} of {})",
                        int(chat.p50_ms),
                        int(chat.p99_ms),
                        chat.delivered,
                        chat.expected
                    ),
                    None => "-".into(),
                },
                |_| None,
            );
            row(
                "server-counted packets/s",
                &|r| r.server_counted_packets_per_s.map_or("-".into(), grouped),
                |_| None,
            );
        }
        row(
            "load average before / after",
            &|r| {
                format!(
                    "{} / {}",
                    load(r.load_average_before),
                    load(r.load_average_after)
                )
            },
            |_| None,
        );

        let mut header = vec!["".to_owned()];
        header.extend(self.reports.iter().map(|r| r.target.name().to_owned()));
        if ratios.is_some() {
            header.push("sealroom/janus".to_owned());
        }
        let lines: Vec<Vec<String>> = std::iter::once(header)
            .chain(rows.into_iter().map(|row| {
                let mut line = vec![row.label.to_owned()];
                line.extend(row.cells);
                if let Some(ratio) = row.ratio {
                    line.push(ratio.map_or(String::new(), |r| format!("{r:.2}×")));
                }
                line
            }))
            .collect();
        let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lines
                    .iter()
                    .filter_map(|l| l.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in &lines {
            let mut text = String::new();
            for (c, cell) in line.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c == 0 {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad));
                } else {
                    text.push_str("  ");
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                }
            }
            writeln!(f, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

fn int(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

fn float(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.digits$}"))
}

fn percent(fraction: Option<f64>, count: u64) -> String {
    fraction.map_or("-".to_owned(), |f| format!("{:.3} % ({count})", f * 100.0))
}

fn load(v: Option<[f64; 3]>) -> String {
    v.map_or("-".to_owned(), |[one, five, _]| {
        format!("{one:.2}, {five:.2}")
    })
}

/// An integer with thousands separators: 92,008.
fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(92_008.2), "92,008");
        assert_eq!(grouped(1_234_567.0), "1,234,567");
    }

    #[test]
    fn window_counts_only_what_happened_after_the_first_snapshot() {
        let mut stats = MediaStats {
            audio_frames_sent: 10,
            video_frames_sent: 5,
            rtp_packets_received: 100,
            ..MediaStats::default()
        };
        stats.per_sender.insert(
            1,
            crate::media::SenderStats {
                audio_frames: 7,
                video_frames: 3,
                bytes: 0,
                last_epoch: 1,
                payload_intact: true,
            },
        );
        let mut start = Sample::default();
        start.add(&stats);
        stats.audio_frames_sent += 50;
        stats.rtp_packets_received += 20;
        stats.latency.record(Duration::from_millis(2));
        let sender = stats.per_sender.get_mut(&1).unwrap();
        sender.audio_frames += 49;
        let mut end = Sample::default();
        end.add(&stats);
        let window = end.since(&start);
        assert_eq!(window.frames_sent, 50);
        assert_eq!(window.frames_received, 49);
        assert_eq!(window.rtp_packets_received, 20);
        assert_eq!(window.video_senders(), 0, "no video in the window");
        assert_eq!(end.video_senders(), 1);
        assert_eq!(window.latency.count(), 1);
    }
}
