//! The WebSocket at `/ws`: one task per connection reads versioned JSON messages, hands them to
//! the room (under its lock, never across an await) and to the SFU, and a writer task sends what
//! the room and the SFU have for this participant. A bad message gets an error code; only a
//! broken or flooding connection is closed.

use std::sync::Arc;

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use sealroom_protocol::{
    ClientMessage, DisplayName, ErrorCode, MAX_MESSAGE_BYTES, ParticipantId, RoomName,
    ServerMessage, decode, encode,
};
use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

use crate::{
    AppState,
    room::{Outgoing, Room, RoomError},
    storage::AuditAction,
};

/// Messages queued for one connection before it counts as too slow and is dropped.
const OUTBOX_CAPACITY: usize = 1024;

/// Hard cap on one WebSocket message: above [`MAX_MESSAGE_BYTES`] a message still gets a
/// `too_large` answer; above this the connection is closed to protect memory.
const WEBSOCKET_MESSAGE_CAP: usize = 4 * MAX_MESSAGE_BYTES;

/// `GET /ws`.
pub async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(WEBSOCKET_MESSAGE_CAP)
        .max_frame_size(WEBSOCKET_MESSAGE_CAP)
        .on_upgrade(move |socket| connection(state, socket))
}

/// How the room and the SFU reach a joined participant's connection.
pub(crate) struct Connection {
    outbox: mpsc::Sender<ServerMessage>,
    /// Closes the connection (it is too slow to keep up).
    kick: Arc<Notify>,
}

/// Where a connection is in its life.
enum Phase {
    /// Connected; the first message must be `join`.
    Connected,
    /// In a room.
    Joined { room: RoomName, id: ParticipantId },
}

async fn connection(state: Arc<AppState>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut outbox_rx) = mpsc::channel::<ServerMessage>(OUTBOX_CAPACITY);
    let writer = tokio::spawn(async move {
        while let Some(message) = outbox_rx.recv().await {
            if sink
                .send(Message::Text(encode(&message).into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let kick = Arc::new(Notify::new());
    let mut phase = Phase::Connected;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(frame)) => frame,
                _ => break,
            },
            () = kick.notified() => break,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(_) => {
                reply_error(
                    &state,
                    &outbox,
                    ErrorCode::Malformed,
                    "binary frames are not used",
                );
                continue;
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let message = match decode::<ClientMessage>(&text) {
            Ok(message) => message,
            Err(error) => {
                reply_error(&state, &outbox, error.code(), &error.to_string());
                continue;
            }
        };
        match (&phase, message) {
            (Phase::Connected, ClientMessage::Join { room, display_name }) => {
                let Some(room) = RoomName::parse(&room) else {
                    reply_error(
                        &state,
                        &outbox,
                        ErrorCode::InvalidRoomName,
                        "room names are 1-64 of a-z 0-9 -",
                    );
                    continue;
                };
                let Some(display_name) = DisplayName::parse(&display_name) else {
                    reply_error(
                        &state,
                        &outbox,
                        ErrorCode::InvalidDisplayName,
                        "display names are 1-64 printable characters",
                    );
                    continue;
                };
                let id = new_participant_id();
                let connection = Connection {
                    outbox: outbox.clone(),
                    kick: kick.clone(),
                };
                join(&state, &room, &id, display_name, connection).await;
                phase = Phase::Joined { room, id };
            }
            (Phase::Connected, _) => {
                reply_error(
                    &state,
                    &outbox,
                    ErrorCode::OutOfOrder,
                    "the first message must be join",
                );
            }
            (Phase::Joined { .. }, ClientMessage::Join { .. }) => {
                reply_error(&state, &outbox, ErrorCode::OutOfOrder, "already joined");
            }
            (Phase::Joined { .. }, ClientMessage::Leave) => break,
            (Phase::Joined { room, id }, message) => {
                let span = tracing::info_span!("participant", room = %room, participant = %id);
                handle(&state, room, id, &outbox, message)
                    .instrument(span)
                    .await;
            }
        }
    }

    if let Phase::Joined { room, id } = phase {
        leave(&state, &room, &id).await;
    }
    drop(outbox);
    let _ = writer.await;
}

async fn handle(
    state: &Arc<AppState>,
    room: &RoomName,
    id: &ParticipantId,
    outbox: &mpsc::Sender<ServerMessage>,
    message: ClientMessage,
) {
    let result = match message {
        ClientMessage::GroupCreated { group_info } => {
            state.with_room(room, |r| r.group_created(id, group_info.as_ref()))
        }
        ClientMessage::KeyPackage { key_package } => {
            state.with_room(room, |r| r.key_package(id, key_package.0))
        }
        ClientMessage::Commit {
            commit, welcome, ..
        } => {
            let out = state.with_room(room, |r| {
                r.commit(id, commit.as_ref(), welcome.as_ref().map(AsRef::as_ref))
            });
            if let Ok(out) = &out {
                let accepted = out
                    .iter()
                    .any(|(_, m)| matches!(m, ServerMessage::CommitAccepted { .. }));
                if accepted {
                    state.metrics.commits_sequenced.inc();
                } else {
                    state.metrics.commits_rejected.inc();
                }
            }
            out
        }
        ClientMessage::Application { message } => {
            state.with_room(room, |r| r.application(id, message.as_ref()))
        }
        ClientMessage::SdpOffer { sdp } => {
            match state.media.add_participant(room.as_str(), id, &sdp).await {
                Ok(answer) => Ok(vec![(id.clone(), ServerMessage::SdpAnswer { sdp: answer })]),
                Err(error) => {
                    reply_error(state, outbox, ErrorCode::InvalidSdp, &error.to_string());
                    return;
                }
            }
        }
        ClientMessage::SdpAnswer { sdp } => match state.media.accept_answer(id, &sdp).await {
            Ok(()) => Ok(Vec::new()),
            Err(error) => {
                reply_error(state, outbox, ErrorCode::InvalidSdp, &error.to_string());
                return;
            }
        },
        ClientMessage::Join { .. } | ClientMessage::Leave => Ok(Vec::new()),
    };
    match result {
        Ok(out) => state.dispatch(out),
        Err(error) => reply_error(state, outbox, error.code(), &error.to_string()),
    }
}

async fn join(
    state: &Arc<AppState>,
    room: &RoomName,
    id: &ParticipantId,
    display_name: DisplayName,
    connection: Connection,
) {
    state
        .connections
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(id.clone(), connection);
    let (created, out) = {
        let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let created = !rooms.contains_key(room);
        let entry = rooms
            .entry(room.clone())
            .or_insert_with(|| Room::new(room.clone(), state.external_sender.clone()));
        let out = entry.join(id, display_name);
        state.metrics.rooms.set(rooms.len() as i64);
        (created, out)
    };
    state.metrics.participants.inc();
    tracing::info!(room = %room, participant = %id, "joined");
    state.dispatch(out);
    if created {
        state.audit(AuditAction::RoomCreated, room, None).await;
    }
    state
        .audit(AuditAction::ParticipantJoined, room, Some(id))
        .await;
}

async fn leave(state: &Arc<AppState>, room: &RoomName, id: &ParticipantId) {
    state.media.remove_participant(id);
    state
        .connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id);
    let (ended, out) = {
        let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let (ended, out) = match rooms.get_mut(room) {
            Some(r) => {
                let out = r.leave(id);
                (r.is_empty(), out)
            }
            None => (false, Vec::new()),
        };
        if ended {
            rooms.remove(room);
        }
        state.metrics.rooms.set(rooms.len() as i64);
        (ended, out)
    };
    state.metrics.participants.dec();
    tracing::info!(room = %room, participant = %id, "left");
    state.dispatch(out);
    state
        .audit(AuditAction::ParticipantLeft, room, Some(id))
        .await;
    if ended {
        state.audit(AuditAction::RoomEnded, room, None).await;
    }
}

fn reply_error(
    state: &AppState,
    outbox: &mpsc::Sender<ServerMessage>,
    code: ErrorCode,
    message: &str,
) {
    state.metrics.signalling_errors.inc();
    let _ = outbox.try_send(ServerMessage::Error {
        code,
        message: message.to_owned(),
    });
}

/// 128 random bits: participant ids are not guessable, so one participant cannot name another's
/// connection in a forged message.
fn new_participant_id() -> ParticipantId {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl AppState {
    fn with_room(
        &self,
        room: &RoomName,
        f: impl FnOnce(&mut Room) -> Result<Vec<Outgoing>, RoomError>,
    ) -> Result<Vec<Outgoing>, RoomError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms
            .get_mut(room)
            .ok_or(RoomError::OutOfOrder("no such room"))?;
        f(room)
    }

    /// Queues messages for their participants. A connection whose queue is full is closed:
    /// one slow client must not stall a room or grow the server's memory.
    pub(crate) fn dispatch(&self, out: Vec<Outgoing>) {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        for (to, message) in out {
            if let Some(connection) = connections.get(&to)
                && let Err(mpsc::error::TrySendError::Full(_)) = connection.outbox.try_send(message)
            {
                tracing::warn!(participant = %to, "outbox full: closing the connection");
                connection.kick.notify_one();
            }
        }
    }

    async fn audit(&self, action: AuditAction, room: &RoomName, participant: Option<&str>) {
        if let Err(error) = self.storage.audit(action, room.as_str(), participant).await {
            tracing::error!(%error, "audit record not written");
        }
    }
}
