//! The audit log's writer, and the room messages that wait for it.
//!
//! One task writes every audit record, in the order the server made them, several to a
//! transaction. A room's messages made after one of its records (the answer to a lock, a
//! kick, a join, and everything later from that room) are held until that record is on disk:
//! no client is told of a change whose record a crash could still lose, and no later message
//! of the room overtakes a held one.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, Weak},
    time::Duration,
};

use sealroom_protocol::RoomName;
use tokio::sync::{mpsc, watch};

use crate::{
    AppState,
    room::Outgoing,
    storage::{AuditAction, NewAuditRecord, Storage},
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
