//! Prometheus metrics at `/metrics`: rooms, participants, what the SFU forwarded and dropped,
//! what the delivery service sequenced, and every audited action (joins, moderation, refusals)
//! by kind. Counts only: no names, no addresses.

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, text::encode},
    metrics::{counter::ConstCounter, counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::media::MediaServer;

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Rooms that exist now.
    pub rooms: Gauge<i64, AtomicI64>,
    /// Participants connected now.
    pub participants: Gauge<i64, AtomicI64>,
    /// Commits the delivery service accepted.
    pub commits_sequenced: Counter<u64, AtomicU64>,
    /// Commits it refused (lost their epoch, or invalid).
    pub commits_rejected: Counter<u64, AtomicU64>,
    /// Signalling messages refused with an error code.
    pub signalling_errors: Counter<u64, AtomicU64>,
    /// Bytes of rooms' encrypted files, stored or reserved for uploads under way.
    pub blob_bytes: Gauge<i64, AtomicI64>,
    /// Bytes of encrypted recordings kept, parts being written included.
    pub recording_bytes: Gauge<i64, AtomicI64>,
    /// Security-relevant actions, by the audit log's action name: every audit record is
    /// counted here too.
    pub audit_events: Family<Vec<(&'static str, &'static str)>, Counter>,
}

/// Reads the SFU's totals at scrape time, so the hot path keeps plain counters.
#[derive(Debug)]
struct SfuCollector {
    media: MediaServer,
}

impl Collector for SfuCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.media.stats();
        for (name, help, value) in [
            (
                "sealroom_forwarded_packets",
                "Media packets the SFU forwarded",
                stats.forwarded_packets,
            ),
            (
                "sealroom_forwarded_bytes",
                "Media payload bytes the SFU forwarded",
                stats.forwarded_bytes,
            ),
            (
                "sealroom_dropped_packets",
                "Media packets the SFU dropped",
                stats.dropped_packets,
            ),
            (
                "sealroom_over_budget_packets",
                "Media packets dropped because their publisher sent over its budget",
                stats.over_budget_packets,
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new(media: MediaServer) -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            registry: Arc::default(),
            rooms: Gauge::default(),
            participants: Gauge::default(),
            commits_sequenced: Counter::default(),
            commits_rejected: Counter::default(),
            signalling_errors: Counter::default(),
            blob_bytes: Gauge::default(),
            recording_bytes: Gauge::default(),
            audit_events: Family::default(),
        };
        registry.register(
            "sealroom_rooms",
            "Rooms that exist now",
            metrics.rooms.clone(),
        );
        registry.register(
            "sealroom_participants",
            "Participants connected now",
            metrics.participants.clone(),
        );
        registry.register(
            "sealroom_commits_sequenced",
            "MLS commits the delivery service accepted",
            metrics.commits_sequenced.clone(),
        );
        registry.register(
            "sealroom_commits_rejected",
            "MLS commits the delivery service refused",
            metrics.commits_rejected.clone(),
        );
        registry.register(
            "sealroom_signalling_errors",
            "Signalling messages refused with an error code",
            metrics.signalling_errors.clone(),
        );
        registry.register(
            "sealroom_blob_bytes",
            "Bytes of rooms' encrypted files, stored or reserved for uploads under way",
            metrics.blob_bytes.clone(),
        );
        registry.register(
            "sealroom_recording_bytes",
            "Bytes of encrypted recordings kept, parts being written included",
            metrics.recording_bytes.clone(),
        );
        registry.register(
            "sealroom_audit_events",
            "Security-relevant actions written to the audit log, by action",
            metrics.audit_events.clone(),
        );
        registry.register_collector(Box::new(SfuCollector { media }));
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
