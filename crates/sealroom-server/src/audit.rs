//! The audit log's writer, and the room messages that wait for it.
//!
//! One task writes every audit record, in the order the server made them, several to a
//! transaction. A room's messages made after one of its records (the answer to a lock, a
//! kick, a join, and everything later from that room) are held until that record is on disk:
//! no client is told of a change whose record a crash could still lose, and no later message
//! of the room overtakes a held one.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv6Addr},
    sync::{Mutex, Weak},
    time::Duration,
};

use sealroom_protocol::RoomName;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use crate::{
    AppState,
    config::AuditSettings,
    room::Outgoing,
    storage::{AuditAction, NewAuditRecord, Storage, StorageError},
};

/// Numbers records in the order they were made; a room's held messages wait for a number.
pub(crate) type Ticket = u64;

/// What the rest of the server sees of the writer.
pub(crate) struct AuditLog {
    queue: Mutex<Queue>,
    records: mpsc::UnboundedSender<(Ticket, NewAuditRecord)>,
    written: watch::Sender<Ticket>,
}

#[derive(Default)]
struct Queue {
    issued: Ticket,
    written: Ticket,
    rooms: HashMap<RoomName, Held>,
}

/// A room's last record, and its messages waiting for records.
#[derive(Default)]
struct Held {
    last: Ticket,
    batches: VecDeque<(Ticket, Vec<Outgoing>)>,
}

/// The writer's end, to be run by [`write_records`].
pub(crate) struct Records(mpsc::UnboundedReceiver<(Ticket, NewAuditRecord)>);

/// A failed write is tried again this often, then the records are given up (logged) so the
/// rooms they hold do not stall for good.
const WRITE_ATTEMPTS: u32 = 20;
const RETRY_AFTER: Duration = Duration::from_millis(250);
/// Records written in one transaction at most.
const BATCH: usize = 256;

impl AuditLog {
    pub(crate) fn new() -> (Self, Records) {
        let (records, receiver) = mpsc::unbounded_channel();
        let log = Self {
            queue: Mutex::default(),
            records,
            written: watch::Sender::new(0),
        };
        (log, Records(receiver))
    }

    /// Queues a record for the writer; the room's messages made from now on wait for it.
    /// `room` is `None` for what happens outside rooms (sign-ins): nothing waits for those
    /// but whoever awaits [`AuditLog::written`].
    pub(crate) fn record(
        &self,
        action: AuditAction,
        room: Option<&RoomName>,
        participant: Option<&str>,
        detail: Option<&str>,
    ) -> Ticket {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.issued += 1;
        let ticket = queue.issued;
        if let Some(room) = room {
            queue.rooms.entry(room.clone()).or_default().last = ticket;
        }
        // Sent under the lock, so the writer gets records in ticket order.
        let _ = self.records.send((
            ticket,
            NewAuditRecord {
                action,
                room: room.map(|room| room.as_str().to_owned()),
                participant: participant.map(str::to_owned),
                detail: detail.map(str::to_owned),
            },
        ));
        ticket
    }

    /// Hands `out`, messages `room` just made, to `dispatch` now, or holds them until the
    /// room's last record is written. Called under the rooms' lock, so a room's messages are
    /// held or sent in the order it made them.
    pub(crate) fn dispatch_after_records(
        &self,
        room: &RoomName,
        out: Vec<Outgoing>,
        dispatch: impl FnOnce(Vec<Outgoing>),
    ) {
        if out.is_empty() {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let written = queue.written;
        match queue.rooms.get_mut(room) {
            Some(held) if held.last > written => held.batches.push_back((held.last, out)),
            // Dispatched under the queue's lock: a release by the writer cannot be overtaken.
            _ => dispatch(out),
        }
    }

    /// Records up to `ticket` are on disk: hands every message that waited for them to
    /// `dispatch`, room by room in order.
    fn written_up_to(&self, ticket: Ticket, mut dispatch: impl FnMut(Vec<Outgoing>)) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.written = ticket;
        queue.rooms.retain(|_, held| {
            while held.batches.front().is_some_and(|(t, _)| *t <= ticket) {
                if let Some((_, out)) = held.batches.pop_front() {
                    dispatch(out);
                }
            }
            held.last > ticket || !held.batches.is_empty()
        });
        drop(queue);
        self.written.send_replace(ticket);
    }

    /// Waits until the record `ticket` is on disk (or given up).
    pub(crate) async fn written(&self, ticket: Ticket) {
        let _ = self
            .written
            .subscribe()
            .wait_for(|written| *written >= ticket)
            .await;
    }
}

/// The writer: takes the records queued so far, writes them in one transaction, then lets
/// their rooms' held messages go. Ends with the server.
pub(crate) async fn write_records(state: Weak<AppState>, storage: Storage, mut records: Records) {
    let mut batch = Vec::with_capacity(BATCH);
    while records.0.recv_many(&mut batch, BATCH).await > 0 {
        let Some(&(last, _)) = batch.last() else {
            continue;
        };
        let new: Vec<&NewAuditRecord> = batch.iter().map(|(_, record)| record).collect();
        let mut attempt = 1;
        while let Err(error) = storage.append_audit(&new).await {
            if attempt == WRITE_ATTEMPTS {
                tracing::error!(%error, records = new.len(), "audit records not written: given up");
                break;
            }
            tracing::error!(%error, attempt, "audit records not written: trying again");
            attempt += 1;
            tokio::time::sleep(RETRY_AFTER).await;
        }
        let Some(state) = state.upgrade() else {
            return;
        };
        state
            .audit_log
            .written_up_to(last, |out| state.dispatch(out));
        batch.clear();
    }
}

// The hash chain (docs/audit-log.md): what each record's hash covers, and how client
// addresses are kept so that truncating them later leaves every hash as it was.

/// A SHA-256 hash in the audit chain.
pub(crate) type ChainHash = [u8; 32];

/// What the first record ever written follows.
pub(crate) const GENESIS: ChainHash = [0; 32];

/// A record as its hash covers it: everything it says, its place (`seq`) and when.
pub(crate) struct Chained<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub action: &'a str,
    pub room: Option<&'a str>,
    pub participant: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub address_commitment: Option<&'a [u8]>,
}

/// `SHA-256(domain ‖ previous hash ‖ the record's fields)`, each field length-prefixed (or
/// marked absent) so that no two records encode alike. The detail is hashed with its client
/// addresses cut to their prefixes: the full addresses are covered by the commitment.
pub(crate) fn record_hash(prev: &ChainHash, record: &Chained) -> ChainHash {
    let detail = record.detail.map(truncated_detail);
    let mut hasher = Sha256::new();
    hasher.update(b"sealroom audit chain v1\0");
    hasher.update(prev);
    hasher.update(record.seq.to_be_bytes());
    let fields = [
        Some(record.at.as_bytes()),
        Some(record.action.as_bytes()),
        record.room.map(str::as_bytes),
        record.participant.map(str::as_bytes),
        detail.as_deref().map(str::as_bytes),
        record.address_commitment,
    ];
    for field in fields {
        match field {
            None => hasher.update([0]),
            Some(bytes) => {
                hasher.update([1]);
                hasher.update((bytes.len() as u64).to_be_bytes());
                hasher.update(bytes);
            }
        }
    }
    hasher.finalize().into()
}

/// Details name client addresses as `address=…` among space-separated pairs.
const ADDRESS_KEY: &str = "address=";

/// `detail` with each address's value replaced by `map(value)`.
fn map_addresses(detail: &str, map: impl Fn(&str) -> String) -> String {
    detail
        .split(' ')
        .map(|pair| match pair.strip_prefix(ADDRESS_KEY) {
            Some(value) => format!("{ADDRESS_KEY}{}", map(value)),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of an address retention keeps: IPv4 to /24, IPv6 to /48. What is not an
/// address (a prefix already) stays as it is.
fn address_prefix(value: &str) -> String {
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(address)) => {
            let [a, b, c, _] = address.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(IpAddr::V6(address)) => {
            let [a, b, c, ..] = address.segments();
            format!("{}/48", Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0))
        }
        Err(_) => value.to_owned(),
    }
}

/// `detail` with every client address cut to its prefix.
pub(crate) fn truncated_detail(detail: &str) -> String {
    map_addresses(detail, address_prefix)
}

/// The full (not yet truncated) client addresses in `detail`, in order.
fn full_addresses(detail: Option<&str>) -> Vec<&str> {
    detail
        .unwrap_or_default()
        .split(' ')
        .filter_map(|pair| pair.strip_prefix(ADDRESS_KEY))
        .filter(|value| value.parse::<IpAddr>().is_ok())
        .collect()
}

/// `SHA-256(salt ‖ the full addresses)`, `None` if `detail` has none. The random salt
/// keeps the commitment from being reversed by trying all 2³² IPv4 addresses; retention
/// drops the salt with the addresses' last bits.
pub(crate) fn address_commitment(detail: Option<&str>, salt: &[u8]) -> Option<ChainHash> {
    let addresses = full_addresses(detail);
    if addresses.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(addresses.join("\n"));
    Some(hasher.finalize().into())
}

/// A fresh salt and the commitment under it to `detail`'s addresses, if it has any.
pub(crate) fn commit_addresses(detail: Option<&str>) -> Option<(Vec<u8>, ChainHash)> {
    let salt = rand::random::<[u8; 32]>().to_vec();
    address_commitment(detail, &salt).map(|commitment| (salt, commitment))
}

/// Whether a stored record's addresses are the ones its commitment (which the chain covers)
/// was made to: with the salt, exactly those; without it, no full address may be left.
pub(crate) fn addresses_hold(
    detail: Option<&str>,
    salt: Option<&[u8]>,
    commitment: Option<&[u8]>,
) -> bool {
    match salt {
        Some(salt) => {
            address_commitment(detail, salt)
                .as_ref()
                .map(|hash| hash.as_slice())
                == commitment
        }
        None => full_addresses(detail).is_empty(),
    }
}

/// An `audit_pruned` record's detail: how many records were removed, the last one's number
/// and hash, which the oldest remaining record follows.
pub(crate) fn prune_detail(removed: u64, up_to: i64, last_hash: &[u8]) -> String {
    format!(
        "removed={removed} up_to={up_to} last_hash={}",
        hex::encode(last_hash)
    )
}

/// The number and hash a prune's detail names as the remaining chain's anchor.
pub(crate) fn prune_anchor(detail: &str) -> Option<(i64, ChainHash)> {
    let value = |key: &str| {
        detail
            .split(' ')
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
    };
    let up_to = value("up_to")?.parse().ok()?;
    let last_hash = hex::decode(value("last_hash")?).ok()?.try_into().ok()?;
    Some((up_to, last_hash))
}

/// Retention runs at start and then this often.
const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Applies `[audit]` retention at start and then daily: removes old records (recorded as
/// `audit_pruned`) and truncates old client addresses. Ends with the server.
pub(crate) async fn keep_retention(state: Weak<AppState>, settings: AuditSettings) {
    if settings.retention_days.is_none() && settings.truncate_addresses_after_days.is_none() {
        return;
    }
    loop {
        let Some(storage) = state.upgrade().map(|state| state.storage.clone()) else {
            return;
        };
        if let Err(error) = apply_retention(&storage, settings).await {
            tracing::error!(%error, "audit retention failed: tried again tomorrow");
        }
        drop(storage);
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}

async fn apply_retention(storage: &Storage, settings: AuditSettings) -> Result<(), StorageError> {
    if let Some(days) = settings.truncate_addresses_after_days {
        let cutoff = storage.audit_time_days_ago(days).await?;
        let truncated = storage.truncate_audit_addresses_before(&cutoff).await?;
        tracing::info!(truncated, days, "audit records' client addresses truncated");
    }
    if let Some(days) = settings.retention_days {
        let cutoff = storage.audit_time_days_ago(days).await?;
        let removed = storage.prune_audit_before(&cutoff).await?;
        tracing::info!(removed, days, "old audit records removed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sealroom_protocol::ServerMessage;

    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn message(n: u64) -> Vec<Outgoing> {
        vec![(
            format!("p{n}"),
            ServerMessage::Error {
                code: sealroom_protocol::ErrorCode::Internal,
                message: n.to_string(),
                retry_after_ms: None,
            },
        )]
    }

    fn sent(into: &mut Vec<String>) -> impl FnMut(Vec<Outgoing>) + '_ {
        |out| into.extend(out.into_iter().map(|(to, _)| to))
    }

    #[test]
    fn addresses_are_cut_to_their_prefix_and_the_hash_does_not_change() {
        let detail = "reason=x address=203.0.113.77 limit=address";
        assert_eq!(
            truncated_detail(detail),
            "reason=x address=203.0.113.0/24 limit=address"
        );
        assert_eq!(
            truncated_detail("address=2001:db8:1234:5678::1"),
            "address=2001:db8:1234::/48"
        );
        assert_eq!(
            truncated_detail("address=2001:db8:1234::/48"),
            "address=2001:db8:1234::/48"
        );
        let (salt, commitment) = commit_addresses(Some(detail)).unwrap();
        let record = |detail| Chained {
            seq: 7,
            at: "2026-01-01T00:00:00.000Z",
            action: "signed_in",
            room: None,
            participant: Some("alice"),
            detail: Some(detail),
            address_commitment: Some(&commitment),
        };
        let truncated = truncated_detail(detail);
        assert_eq!(
            record_hash(&GENESIS, &record(detail)),
            record_hash(&GENESIS, &record(&truncated))
        );
        assert!(addresses_hold(Some(detail), Some(&salt), Some(&commitment)));
        assert!(!addresses_hold(
            Some("address=203.0.113.78"),
            Some(&salt),
            Some(&commitment)
        ));
        assert!(addresses_hold(Some(&truncated), None, Some(&commitment)));
        assert!(!addresses_hold(Some(detail), None, Some(&commitment)));
        assert!(commit_addresses(Some("reason=x")).is_none());
    }

    #[test]
    fn a_prunes_detail_names_its_anchor() {
        let detail = prune_detail(12, 40, &[7; 32]);
        assert_eq!(prune_anchor(&detail), Some((40, [7; 32])));
        assert_eq!(prune_anchor("removed=1 up_to=x last_hash=00"), None);
    }

    #[test]
    fn a_room_waits_for_its_own_records_only() {
        let (log, _records) = AuditLog::new();
        let (a, b) = (room("a"), room("b"));
        let mut out = Vec::new();
        log.dispatch_after_records(&a, message(1), sent(&mut out));
        assert_eq!(out, ["p1"], "no record yet: sent at once");

        let first = log.record(AuditAction::RoomLocked, Some(&a), None, None);
        log.dispatch_after_records(&a, message(2), sent(&mut out));
        log.dispatch_after_records(&b, message(3), sent(&mut out));
        assert_eq!(
            out,
            ["p1", "p3"],
            "room a's answer waits; room b's does not"
        );

        let second = log.record(AuditAction::RoomUnlocked, Some(&a), None, None);
        log.dispatch_after_records(&a, message(4), sent(&mut out));
        log.written_up_to(first, sent(&mut out));
        assert_eq!(
            out,
            ["p1", "p3", "p2"],
            "the unlock's answer waits for its record"
        );
        log.dispatch_after_records(&a, message(5), sent(&mut out));
        log.written_up_to(second, sent(&mut out));
        assert_eq!(
            out,
            ["p1", "p3", "p2", "p4", "p5"],
            "in the order the room made them"
        );

        log.dispatch_after_records(&a, message(6), sent(&mut out));
        assert_eq!(out.last().map(String::as_str), Some("p6"));
        assert!(log.queue.lock().unwrap().rooms.is_empty(), "nothing kept");
    }
}
