//! The WebSocket at `/ws`: one task per connection reads versioned JSON messages, hands them to
//! the room (under its lock, never across an await) and to the SFU, and a writer task sends what
//! the room and the SFU have for this participant. A bad message gets an error code; only a
//! broken or flooding connection is closed.
//!
//! Admission happens here too: the join rate limits, then the room's [`Gate`] (lock, password),
//! or for a breakout room its main room's ticket, with one answer for every refusal; and
//! moderation, whose rights the [`Room`] checks.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use axum::{
    extract::{
        ConnectInfo, State, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    http::HeaderMap,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use sealroom_protocol::{
    BreakoutTicket, ClientMessage, DisplayName, ErrorCode, GroupAction, MAX_MESSAGE_BYTES,
    ParticipantId, RemovalReason, Role, RoomName, ServerMessage, decode_numbered, encode,
    encode_numbered,
};
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

use crate::{
    AppState,
    accounts::{Account, signed_in},
    audit::Ticket,
    client_address::client_address,
    http_security::origin_allowed,
    mailbox::{Connection, Mailbox, Outbound, Posted, ResumeRefused},
    org_roles::OrgRole,
    password::StoredPassword,
    rate_limit::{Limited, TokenBuckets},
    room::{Gate, Newcomer, Outgoing, Removal, Room, RoomError},
    storage::{AuditAction, PersistentRoom},
};

/// The one answer to every refused join, whatever the reason, so that it does not tell whether
/// the room exists.
const ACCESS_DENIED: &str = "access denied: no such room, the room is locked, or the password is \
     wrong";
/// The answer to a guest's join where the organisation lets only signed-in people join.
const SIGN_IN_REQUIRED: &str = "this organisation lets only signed-in people join: sign in first";

/// Messages refused in a row, over the connection's budget, before it is closed as a flood.
const FLOOD_CUTOFF: u32 = 200;

/// Messages queued for one connection before it counts as too slow and is dropped.
const OUTBOX_CAPACITY: usize = 1024;

/// Hard cap on one WebSocket message: above [`MAX_MESSAGE_BYTES`] a message still gets a
/// `too_large` answer; above this the connection is closed to protect memory.
const WEBSOCKET_MESSAGE_CAP: usize = 4 * MAX_MESSAGE_BYTES;

/// `GET /ws`. Refused before the upgrade: a browser page from another origin (403), a session
/// token that is unknown or expired (401), and a client address over its number of open
/// connections (429). A valid token makes the connection's joins its account's.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    if !origin_allowed(&headers, &state.websocket_origins) {
        tracing::warn!(
            %address,
            origin = ?headers.get(header::ORIGIN),
            allowed = ?state.websocket_origins,
            "WebSocket from an origin not public_origin nor in access.allowed_origins: refused"
        );
        state.metrics.signalling_errors.inc();
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let account = match signed_in(&state, &headers).await {
        Ok(account) => account,
        Err(refused) => {
            state.metrics.signalling_errors.inc();
            return refused;
        }
    };
    let Some(slot) = ConnectionSlot::take(&state, address) else {
        state.metrics.signalling_errors.inc();
        return (StatusCode::TOO_MANY_REQUESTS, "too many connections").into_response();
    };
    ws.max_message_size(WEBSOCKET_MESSAGE_CAP)
        .max_frame_size(WEBSOCKET_MESSAGE_CAP)
        .on_upgrade(move |socket| async move {
            connection(state, socket, address, account).await;
            drop(slot);
        })
}

/// One of an address's open connections; given back when dropped.
struct ConnectionSlot {
    state: Arc<AppState>,
    address: IpAddr,
}

impl ConnectionSlot {
    fn take(state: &Arc<AppState>, address: IpAddr) -> Option<Self> {
        let mut open = state
            .open_connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_default();
        if *count >= state.connections_per_address {
            return None;
        }
        *count += 1;
        Some(Self {
            state: state.clone(),
            address,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .state
            .open_connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Where a connection is in its life.
enum Phase {
    /// Connected; the first message must be `join`.
    Connected,
    /// In a room.
    Joined { room: RoomName, id: ParticipantId },
}

async fn connection(
    state: Arc<AppState>,
    socket: WebSocket,
    address: IpAddr,
    account: Option<Account>,
) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut outbox_rx) = mpsc::channel::<Outbound>(OUTBOX_CAPACITY);
    let (pings, mut pings_rx) = mpsc::channel::<()>(1);
    let writer = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                outbound = outbox_rx.recv() => match outbound {
                    Some(Outbound { seq: Some(seq), message }) => {
                        Message::Text(encode_numbered(seq, &message).into())
                    }
                    Some(Outbound { seq: None, message }) => Message::Text(encode(&message).into()),
                    None => break,
                },
                Some(()) = pings_rx.recv() => Message::Ping(Default::default()),
            };
            if sink.send(frame).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let kick = Arc::new(Notify::new());
    let generation = state.next_generation.fetch_add(1, Ordering::Relaxed);
    let connection = || Connection {
        outbox: outbox.clone(),
        kick: kick.clone(),
        generation,
    };
    let mut phase = Phase::Connected;
    // A goodbye (leave, or a flood cut off) ends the session; any other end parks it for a
    // resume.
    let mut goodbye = false;
    // Pings three times per idle timeout; a live peer (a browser by itself) answers.
    let mut ping = tokio::time::interval(state.idle_timeout / 3);
    let mut budget = TokenBuckets::new(state.messages_per_connection);
    let mut refused_in_a_row = 0;
    let mut last_heard = Instant::now();
    loop {
        let frame = tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(frame)) => frame,
                _ => break,
            },
            () = kick.notified() => break,
            _ = ping.tick() => {
                if last_heard.elapsed() >= state.idle_timeout {
                    tracing::info!(%address, "connection idle: closed");
                    break;
                }
                let _ = pings.try_send(());
                continue;
            }
        };
        last_heard = Instant::now();
        // Every frame but keepalives spends from the connection's budget.
        let over_budget = match frame {
            Message::Ping(_) | Message::Pong(_) => None,
            _ => budget.take(&(), Instant::now()).err(),
        };
        if let Some(limited) = over_budget {
            refused_in_a_row += 1;
            if refused_in_a_row > FLOOD_CUTOFF {
                tracing::warn!(%address, "signalling flood: connection closed");
                if let Phase::Joined { room, id } = &phase {
                    let detail = format!("address={address}");
                    state
                        .audit(
                            AuditAction::ConnectionFlooding,
                            room,
                            Some(id),
                            Some(&detail),
                        )
                        .await;
                }
                goodbye = true;
                break;
            }
            if limited.first {
                let _ = outbox.try_send(Outbound::plain(ServerMessage::Error {
                    code: ErrorCode::RateLimited,
                    message: "too many messages: slow down".into(),
                    retry_after_ms: Some(
                        u64::try_from(limited.wait.as_millis()).unwrap_or(u64::MAX),
                    ),
                }));
            }
            state.metrics.signalling_errors.inc();
            continue;
        }
        refused_in_a_row = 0;
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
        let (client_seq, message) = match decode_numbered::<ClientMessage>(&text) {
            Ok(numbered) => numbered,
            Err(error) => {
                reply_error(&state, &outbox, error.code(), &error.to_string());
                continue;
            }
        };
        if let (Phase::Joined { id, .. }, Some(seq)) = (&phase, client_seq)
            && !state.take_client_seq(id, seq)
        {
            tracing::debug!(participant = %id, seq, "message sent again after a resume: already taken");
            continue;
        }
        match (&phase, message) {
            (
                Phase::Connected,
                ClientMessage::Join {
                    room,
                    display_name,
                    password,
                    moderator_key,
                    holds_link,
                    breakout_of,
                },
            ) => {
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
                        "display names are 1-64 characters, without control or invisible \
                         formatting characters",
                    );
                    continue;
                };
                if let Err(limited) = state.take_join_token(address, &room) {
                    refuse_rate_limited(&state, &outbox, &room, address, limited).await;
                    continue;
                }
                let persistent = match persistent_room_to_open(&state, &room).await {
                    Ok(persistent) => persistent,
                    Err(reason) => {
                        refuse_join(&state, &outbox, &room, address, reason).await;
                        continue;
                    }
                };
                let credentials = Credentials {
                    password,
                    moderator_key,
                    breakout_of,
                };
                let entry = match pass_door(&state, &room, credentials, persistent.as_ref()).await {
                    Ok(entry) => entry,
                    Err(reason) => {
                        refuse_join(&state, &outbox, &room, address, reason).await;
                        continue;
                    }
                };
                let id = new_participant_id();
                let joiner = Joiner {
                    id: id.clone(),
                    newcomer: Newcomer {
                        display_name,
                        account: account.clone(),
                        holds_link,
                        moderates_by_role: moderates_by_role(&state, account.as_ref()).await,
                    },
                };
                match join(&state, &room, joiner, connection(), entry, persistent).await {
                    Ok(()) => phase = Phase::Joined { room, id },
                    Err(reason) => refuse_join(&state, &outbox, &room, address, reason).await,
                }
            }
            (
                Phase::Connected,
                ClientMessage::Resume {
                    participant_id,
                    resume_token,
                    last_seq,
                },
            ) => match state.resume(&participant_id, &resume_token, last_seq, connection()) {
                Ok(room) => {
                    tracing::info!(room = %room, participant = %participant_id, last_seq, "resumed");
                    let _ = state.with_room(&room, |r| Ok(r.set_away(&participant_id, false)));
                    state
                        .audit(
                            AuditAction::SessionResumed,
                            &room,
                            Some(&participant_id),
                            None,
                        )
                        .await;
                    phase = Phase::Joined {
                        room,
                        id: participant_id,
                    };
                }
                Err(why) => {
                    tracing::info!(participant = %participant_id, ?why, "resume refused");
                    if let ResumeRefused::TooFarBehind(room) = why {
                        // The client will join afresh: its old member goes now, not in 30 s.
                        leave(&state, &room, &participant_id);
                    }
                    reply_error(
                        &state,
                        &outbox,
                        ErrorCode::ResumeFailed,
                        "this session cannot be resumed: join again",
                    );
                }
            },
            (Phase::Connected, _) => {
                reply_error(
                    &state,
                    &outbox,
                    ErrorCode::OutOfOrder,
                    "the first message must be join",
                );
            }
            (Phase::Joined { .. }, ClientMessage::Join { .. } | ClientMessage::Resume { .. }) => {
                reply_error(&state, &outbox, ErrorCode::OutOfOrder, "already joined");
            }
            (Phase::Joined { .. }, ClientMessage::Leave) => {
                goodbye = true;
                break;
            }
            (Phase::Joined { room, id }, message) => {
                let span = tracing::info_span!("participant", room = %room, participant = %id);
                handle(&state, room, id, &outbox, message)
                    .instrument(span)
                    .await;
            }
        }
    }

    if let Phase::Joined { room, id } = phase {
        connection_ended(&state, &room, &id, generation, goodbye).await;
    }
    drop(outbox);
    let _ = writer.await;
}

async fn handle(
    state: &Arc<AppState>,
    room: &RoomName,
    id: &ParticipantId,
    outbox: &mpsc::Sender<Outbound>,
    message: ClientMessage,
) {
    let result = match &message {
        ClientMessage::GroupCreated { group_info } => {
            let result = state.with_room(room, |r| r.group_created(id, group_info.as_ref()));
            if result.is_ok() {
                // Its founder is the group's first member.
                apply_media_policy(state, room, std::slice::from_ref(id)).await;
            }
            result
        }
        ClientMessage::Commit {
            commit, welcome, ..
        } => {
            let mut accepted = false;
            let result = state.with_room(room, |r| {
                let out = r.commit(id, commit.as_ref(), welcome.as_ref().map(AsRef::as_ref))?;
                accepted = out
                    .iter()
                    .any(|(_, m)| matches!(m, ServerMessage::CommitAccepted { .. }));
                if accepted {
                    state.metrics.commits_sequenced.inc();
                } else {
                    state.metrics.commits_rejected.inc();
                }
                Ok(out)
            });
            if accepted {
                // It may have added or removed members.
                let everyone = state.with_room(room, |r| Ok(r.participant_ids()));
                apply_media_policy(state, room, &everyone.unwrap_or_default()).await;
            }
            result
        }
        ClientMessage::Application { message } => {
            state.with_room(room, |r| r.application(id, message.as_ref()))
        }
        ClientMessage::History { after } => state.with_room(room, |r| r.history(id, *after)),
        ClientMessage::SdpOffer { sdp } => {
            let admitted = state.with_room(room, |r| Ok(r.is_admitted(id)));
            if !admitted.unwrap_or(false) {
                // Nobody in the lobby gets the room's tracks (or its speaking activity).
                reply_error(
                    state,
                    outbox,
                    ErrorCode::OutOfOrder,
                    "media only once admitted to the meeting",
                );
                return;
            }
            match state.media.add_participant(room.as_str(), id, sdp).await {
                Ok(answer) => {
                    apply_media_policy(state, room, std::slice::from_ref(id)).await;
                    // A second offer (an ICE restart) may have withdrawn one of the SFU's: its
                    // next offer must follow this answer.
                    state.dispatch(vec![(id.clone(), ServerMessage::SdpAnswer { sdp: answer })]);
                    state.media.offer_pending_changes(id);
                    Ok(Vec::new())
                }
                Err(error) => {
                    reply_error(state, outbox, ErrorCode::InvalidSdp, &error.to_string());
                    return;
                }
            }
        }
        ClientMessage::SdpAnswer { sdp } => match state.media.accept_answer(id, sdp).await {
            Ok(()) => Ok(Vec::new()),
            Err(error) => {
                reply_error(state, outbox, ErrorCode::InvalidSdp, &error.to_string());
                return;
            }
        },
        ClientMessage::KeyPackage { key_package } => {
            let result = state.with_room(room, |r| r.key_package(id, key_package.0.clone()));
            if let Err(RoomError::Banned) = &result {
                reply_error(
                    state,
                    outbox,
                    ErrorCode::Banned,
                    &RoomError::Banned.to_string(),
                );
                state
                    .audit(AuditAction::BannedDeviceRefused, room, Some(id), None)
                    .await;
                state.close(id);
                return;
            }
            result
        }
        ClientMessage::Lock | ClientMessage::Unlock => {
            let locked = matches!(message, ClientMessage::Lock);
            let action = if locked {
                AuditAction::RoomLocked
            } else {
                AuditAction::RoomUnlocked
            };
            state.with_room_audited(room, id, |r| r.set_locked(id, locked), |_| (action, None))
        }
        ClientMessage::SetPassword { password } => {
            set_password(state, room, id, password.clone()).await
        }
        ClientMessage::GrantModerator { participant_id } => {
            let result = state.with_room_audited(
                room,
                id,
                |r| r.grant_moderator(id, participant_id),
                |_| target(AuditAction::ModeratorGranted, participant_id),
            );
            if result.is_ok() {
                apply_media_policy(state, room, std::slice::from_ref(participant_id)).await;
            }
            result
        }
        ClientMessage::Kick { participant_id }
        | ClientMessage::Ban { participant_id }
        | ClientMessage::Deny { participant_id } => {
            let removal = state.with_room_audited(
                room,
                id,
                |r| match &message {
                    ClientMessage::Ban { .. } => r.ban(id, participant_id),
                    ClientMessage::Deny { .. } => r.deny(id, participant_id),
                    _ => r.kick(id, participant_id),
                },
                |removal| removal_record(removal, participant_id),
            );
            // The removed participant is told, then cut off at once: out of the SFU, its
            // connection closed once told (its task then runs the ordinary leave, which finds
            // it already out of the room); the others get the removal proposal.
            removal.map(|removal| {
                state.media.remove_participant(participant_id);
                leave_breakouts(state, room, participant_id, removal.reason);
                tracing::info!(room = %room, moderator = %id, participant = %participant_id, reason = ?removal.reason, "removed");
                Vec::new()
            })
        }
        ClientMessage::SetLobby { enabled } => {
            let action = if *enabled {
                AuditAction::LobbyEnabled
            } else {
                AuditAction::LobbyDisabled
            };
            state.with_room_audited(room, id, |r| r.set_lobby(id, *enabled), |_| (action, None))
        }
        ClientMessage::Admit { participant_id } => state.with_room_audited(
            room,
            id,
            |r| r.admit(id, participant_id),
            |_| target(AuditAction::LobbyAdmitted, participant_id),
        ),
        ClientMessage::Mute { participant_id } => {
            let result = state.with_room_audited(
                room,
                id,
                |r| r.mute(id, participant_id),
                |_| target(AuditAction::ParticipantMuted, participant_id),
            );
            if result.is_ok() {
                apply_media_policy(state, room, std::slice::from_ref(participant_id)).await;
            }
            result
        }
        ClientMessage::Unmute => {
            let result = state.with_room_audited(
                room,
                id,
                |r| r.unmute(id),
                |_| (AuditAction::ParticipantUnmuted, None),
            );
            if result.is_ok() {
                apply_media_policy(state, room, std::slice::from_ref(id)).await;
            }
            result
        }
        ClientMessage::SetPermissions { permissions } => {
            let result = state.with_room_audited(
                room,
                id,
                |r| r.set_permissions(id, *permissions),
                |_| {
                    let detail = serde_json::to_string(permissions).unwrap_or_default();
                    (AuditAction::PermissionsChanged, Some(detail))
                },
            );
            if result.is_ok() {
                let everyone = state.with_room(room, |r| Ok(r.participant_ids()));
                apply_media_policy(state, room, &everyone.unwrap_or_default()).await;
            }
            result
        }
        ClientMessage::EndMeeting => end_meeting(state, room, id),
        ClientMessage::SetWaitForModerator { enabled } => state.with_room_audited(
            room,
            id,
            |r| r.set_wait_for_moderator(id, *enabled),
            |_| {
                let detail = format!("enabled={enabled}");
                (AuditAction::WaitForModeratorChanged, Some(detail))
            },
        ),
        ClientMessage::OpenBreakouts { rooms } => open_breakouts(state, room, id, rooms),
        ClientMessage::CloseBreakouts => state.with_room_audited(
            room,
            id,
            |r| r.close_breakouts(id),
            |_| (AuditAction::BreakoutsClosed, None),
        ),
        ClientMessage::Join { .. } | ClientMessage::Resume { .. } | ClientMessage::Leave => {
            Ok(Vec::new())
        }
    };
    let changes_kept_settings = matches!(
        message,
        ClientMessage::SetPassword { .. }
            | ClientMessage::SetLobby { .. }
            | ClientMessage::SetPermissions { .. }
            | ClientMessage::SetWaitForModerator { .. }
    );
    if result.is_ok() && changes_kept_settings {
        keep_settings(state, room).await;
    }
    match result {
        Ok(out) => state.dispatch(out),
        Err(error) => {
            match error {
                RoomError::Forbidden => {
                    let detail = format!("message={}", message_type(&message));
                    state
                        .audit(
                            AuditAction::ModerationForbidden,
                            room,
                            Some(id),
                            Some(&detail),
                        )
                        .await;
                }
                RoomError::NotPermitted(what) => {
                    let detail = format!("what={what}");
                    state
                        .audit(
                            AuditAction::PermissionRefused,
                            room,
                            Some(id),
                            Some(&detail),
                        )
                        .await;
                }
                _ => {}
            }
            reply_error(state, outbox, error.code(), &error.to_string())
        }
    }
}

/// The `type` of a client message, for the audit log.
fn message_type(message: &ClientMessage) -> &'static str {
    match message {
        ClientMessage::Join { .. } => "join",
        ClientMessage::Resume { .. } => "resume",
        ClientMessage::GroupCreated { .. } => "group_created",
        ClientMessage::KeyPackage { .. } => "key_package",
        ClientMessage::Commit { .. } => "commit",
        ClientMessage::Application { .. } => "application",
        ClientMessage::History { .. } => "history",
        ClientMessage::SdpOffer { .. } => "sdp_offer",
        ClientMessage::SdpAnswer { .. } => "sdp_answer",
        ClientMessage::Leave => "leave",
        ClientMessage::SetPassword { .. } => "set_password",
        ClientMessage::Lock => "lock",
        ClientMessage::Unlock => "unlock",
        ClientMessage::Kick { .. } => "kick",
        ClientMessage::Ban { .. } => "ban",
        ClientMessage::GrantModerator { .. } => "grant_moderator",
        ClientMessage::SetLobby { .. } => "set_lobby",
        ClientMessage::Admit { .. } => "admit",
        ClientMessage::Deny { .. } => "deny",
        ClientMessage::Mute { .. } => "mute",
        ClientMessage::Unmute => "unmute",
        ClientMessage::SetPermissions { .. } => "set_permissions",
        ClientMessage::EndMeeting => "end_meeting",
        ClientMessage::SetWaitForModerator { .. } => "set_wait_for_moderator",
        ClientMessage::OpenBreakouts { .. } => "open_breakouts",
        ClientMessage::CloseBreakouts => "close_breakouts",
    }
}

/// Tells the SFU what the room allows these participants: a moderator's mute, whether their
/// role may share the screen, and whether they receive the room's media — only members of its
/// MLS group do, so nobody without the keys gets the encrypted frames, or the audio-level
/// extension that tells who speaks. A participant whose media is not in the SFU yet gets it
/// when its media arrives (this is called again then).
async fn apply_media_policy(state: &AppState, room: &RoomName, ids: &[ParticipantId]) {
    let policy: Vec<(bool, bool, bool)> = {
        let rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = rooms.get(room) else {
            return;
        };
        ids.iter()
            .map(|id| (r.is_muted(id), r.may_share_screen(id), r.is_member(id)))
            .collect()
    };
    for (id, (muted, screen_share, member)) in ids.iter().zip(policy) {
        let _ = state.media.set_audio_muted(id, muted).await;
        let _ = state.media.set_screen_share_allowed(id, screen_share).await;
        let _ = state.media.set_receives_media(id, member).await;
    }
}

/// A moderator ends the meeting: everyone is told (their connections close once told), and
/// the room is gone at once, with its files, so a later join creates a new one.
fn end_meeting(
    state: &Arc<AppState>,
    room: &RoomName,
    id: &ParticipantId,
) -> Result<Vec<Outgoing>, RoomError> {
    let told: Vec<ParticipantId> = {
        let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let out = rooms
            .get_mut(room)
            .ok_or(RoomError::OutOfOrder("no such room"))?
            .end_meeting(id)?;
        rooms.remove(room);
        state.blobs.room_ended(room);
        state.metrics.rooms.set(rooms.len() as i64);
        state.record(AuditAction::MeetingEnded, room, Some(id), None);
        state.record(AuditAction::RoomEnded, room, None, None);
        let told = out.iter().map(|(to, _)| to.clone()).collect();
        state.dispatch_in(room, out);
        told
    };
    for participant in &told {
        state.media.remove_participant(participant);
        leave_breakouts(state, room, participant, RemovalReason::MeetingEnded);
    }
    Ok(Vec::new())
}

/// A moderator lists its room's breakout rooms. Under the rooms' lock throughout, so that no
/// other room claims one of them meanwhile.
fn open_breakouts(
    state: &AppState,
    room: &RoomName,
    id: &ParticipantId,
    names: &[String],
) -> Result<Vec<Outgoing>, RoomError> {
    let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
    let taken = names_taken_from(&rooms, room);
    let out = rooms
        .get_mut(room)
        .ok_or(RoomError::OutOfOrder("no such room"))?
        .open_breakouts(id, names, |name| taken.contains(name))?;
    let detail = format!("rooms={}", names.join(","));
    state.record(AuditAction::BreakoutsOpened, room, Some(id), Some(&detail));
    Ok(out)
}

/// The names `main` may not list as breakout rooms: other rooms' breakout rooms, and live
/// rooms other than those it made.
fn names_taken_from(rooms: &HashMap<RoomName, Room>, main: &RoomName) -> HashSet<RoomName> {
    let Some(main_room) = rooms.get(main) else {
        return HashSet::new();
    };
    rooms
        .iter()
        .filter(|(name, _)| *name != main)
        .flat_map(|(name, r)| {
            let live = (!r.is_breakout_of(main_room)).then(|| name.clone());
            live.into_iter().chain(r.breakouts().iter().cloned())
        })
        .collect()
}

/// `gone` left room `main` for good: whoever it entered breakout rooms as goes too, as a kick
/// removes (told, its removal from the group proposed, its connection closed once told).
fn leave_breakouts(state: &AppState, main: &RoomName, gone: &ParticipantId, reason: RemovalReason) {
    let removed: Vec<ParticipantId> = {
        let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let mut removed = Vec::new();
        for (name, r) in rooms.iter_mut() {
            if r.opened_by() == Some(main) {
                let (ids, out) = r.remove_entered_with(gone, reason);
                state.dispatch_in(name, out);
                removed.extend(ids);
            }
        }
        removed
    };
    for id in &removed {
        state.media.remove_participant(id);
    }
}

/// A persistent room keeps what its moderators change for its next meeting.
async fn keep_settings(state: &AppState, room: &RoomName) {
    let kept = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(room)
        .and_then(Room::kept);
    if let Some((settings, password)) = kept {
        let persistent = PersistentRoom { settings, password };
        if let Err(error) = state
            .storage
            .update_persistent_room(room.as_str(), &persistent)
            .await
        {
            tracing::error!(%room, %error, "persistent room settings not kept");
        }
    }
}

/// A moderator sets or removes the room password. The role is checked before the policy, so a
/// participant learns nothing about the policy, and before the (slow) hash.
async fn set_password(
    state: &Arc<AppState>,
    room: &RoomName,
    id: &ParticipantId,
    password: Option<String>,
) -> Result<Vec<Outgoing>, RoomError> {
    let is_moderator = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(room)
        .is_some_and(|r| r.is_moderator(id));
    if !is_moderator {
        return Err(RoomError::Forbidden);
    }
    let hashed = match password {
        None => None,
        Some(password) => {
            if let Err(error) = state.room_password_policy().check(&password) {
                return Err(RoomError::WeakPassword(error));
            }
            let _permit = state.password_work.acquire().await;
            let hashed = tokio::task::spawn_blocking(move || StoredPassword::hash(&password)).await;
            match hashed {
                Ok(Ok(hashed)) => Some(hashed),
                _ => return Err(RoomError::Internal("the password could not be hashed")),
            }
        }
    };
    let action = if hashed.is_some() {
        AuditAction::PasswordSet
    } else {
        AuditAction::PasswordRemoved
    };
    state.with_room_audited(room, id, |r| r.set_password(id, hashed), |_| (action, None))
}

/// A record naming the participant acted on.
fn target(action: AuditAction, target: &ParticipantId) -> (AuditAction, Option<String>) {
    (action, Some(format!("target={target}")))
}

/// The record of a kick, ban or denial.
fn removal_record(removal: &Removal, removed: &ParticipantId) -> (AuditAction, Option<String>) {
    match removal.reason {
        RemovalReason::Banned => {
            let device = removal
                .banned_device
                .map_or_else(|| "none".to_owned(), |f| f.to_string());
            let account = removal.banned_account.as_deref().unwrap_or("none");
            (
                AuditAction::ParticipantBanned,
                Some(format!(
                    "target={removed} device={device} account={account}"
                )),
            )
        }
        RemovalReason::Denied => target(AuditAction::LobbyDenied, removed),
        RemovalReason::Kicked | RemovalReason::MeetingEnded => {
            target(AuditAction::ParticipantKicked, removed)
        }
    }
}

/// Why a join was refused; the joiner is only ever told [`ACCESS_DENIED`], the audit log gets
/// the truth.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    NoSuchRoom,
    Locked,
    PasswordMissing,
    PasswordWrong,
    /// The room's gate changed while the password was being checked.
    GateChanged,
    /// A moderator key that is not the room's (or for a room that does not exist).
    ModeratorKeyWrong,
    /// The account was banned from the room.
    BannedAccount,
    /// A persistent room's settings could not be read.
    StorageFailed,
    /// A join without a ticket to a breakout room (a room listed, or made, as one).
    BreakoutWithoutTicket,
    /// A breakout ticket from a room that is not live or does not list the joined room.
    BreakoutTicketNotOpened,
    /// A breakout ticket whose participant is not in its room's meeting, or whose token is
    /// not that session's.
    BreakoutTicketWrong,
    /// A breakout ticket to a persistent room with no meeting going: it would skip its gate.
    BreakoutTicketPersistentRoom,
    /// A guest's join where the organisation lets only signed-in people join.
    GuestsNotAllowed,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::NoSuchRoom => "no_such_room",
            Refusal::Locked => "locked",
            Refusal::PasswordMissing => "password_missing",
            Refusal::PasswordWrong => "password_wrong",
            Refusal::GateChanged => "gate_changed",
            Refusal::ModeratorKeyWrong => "moderator_key_wrong",
            Refusal::BannedAccount => "banned_account",
            Refusal::StorageFailed => "storage_failed",
            Refusal::BreakoutWithoutTicket => "breakout_without_ticket",
            Refusal::BreakoutTicketNotOpened => "breakout_ticket_not_opened",
            Refusal::BreakoutTicketWrong => "breakout_ticket_wrong",
            Refusal::BreakoutTicketPersistentRoom => "breakout_ticket_persistent_room",
            Refusal::GuestsNotAllowed => "guests_not_allowed",
        }
    }
}

/// A persistent room's kept settings, when a join would open it for a meeting (it has none
/// going). A room whose settings cannot be read is not opened without them.
async fn persistent_room_to_open(
    state: &AppState,
    room: &RoomName,
) -> Result<Option<PersistentRoom>, Refusal> {
    let live = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(room);
    if live {
        return Ok(None);
    }
    state
        .storage
        .persistent_room(room.as_str())
        .await
        .map_err(|error| {
            tracing::error!(%room, %error, "persistent room unreadable: join refused");
            Refusal::StorageFailed
        })
}

/// Whether `account`'s organisation role moderates every meeting: an owner's or an admin's,
/// while the organisation's settings say so. An unreadable role moderates nothing.
async fn moderates_by_role(state: &AppState, account: Option<&Account>) -> bool {
    let Some(account) = account else {
        return false;
    };
    if !state.org_settings().admins_moderate {
        return false;
    }
    match state.storage.account_role(&account.username).await {
        Ok(Some((_, role))) => matches!(role, OrgRole::Owner | OrgRole::Admin),
        Ok(None) => false,
        Err(error) => {
            tracing::error!(%error, "account role unreadable: joins without moderating");
            false
        }
    }
}

/// The gate of a persistent room that has no meeting going.
fn kept_gate(room: &PersistentRoom) -> Gate {
    match &room.password {
        Some(password) => Gate::Password(password.clone()),
        None => Gate::Open,
    }
}

/// Checks the room's gate (a persistent room's kept one if it has no meeting going). Returns
/// the gate passed (`None`: the room does not exist and the join will create it). Every refusal of a join that supplied a password costs one argon2id
/// verification, whether the room exists, is locked, or has another password; a refusal of a
/// join without one costs none. So the time tells no more than the answer.
async fn pass_gate(
    state: &AppState,
    room: &RoomName,
    password: Option<String>,
    persistent: Option<&PersistentRoom>,
) -> Result<Option<Gate>, Refusal> {
    let gate = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(room)
        .map(Room::gate)
        .or_else(|| persistent.map(kept_gate));
    let (gate, password) = match (gate, password) {
        (None, None) => return Ok(None),
        (Some(Gate::Open), _) => return Ok(Some(Gate::Open)),
        (Some(Gate::Locked), None) => return Err(Refusal::Locked),
        (Some(Gate::Password(_)), None) => return Err(Refusal::PasswordMissing),
        (gate, Some(password)) => (gate, password),
    };
    let checked = gate.clone();
    // Held until the check is done (the semaphore is never closed).
    let _permit = state.password_work.acquire().await;
    let verified = tokio::task::spawn_blocking(move || match &checked {
        Some(Gate::Password(stored)) => stored.verify(&password),
        _ => StoredPassword::verify_against_nothing(&password),
    })
    .await
    .unwrap_or(false);
    match gate {
        Some(Gate::Password(_)) if verified => Ok(gate),
        Some(Gate::Password(_)) => Err(Refusal::PasswordWrong),
        Some(_) => Err(Refusal::Locked),
        None => Err(Refusal::NoSuchRoom),
    }
}

async fn refuse_join(
    state: &AppState,
    outbox: &mpsc::Sender<Outbound>,
    room: &RoomName,
    address: IpAddr,
    reason: Refusal,
) {
    // Recorded before the answer, like every audited action.
    let detail = format!("reason={} address={address}", reason.as_str());
    state
        .audit(AuditAction::JoinRefused, room, None, Some(&detail))
        .await;
    // Guests are refused at every room alike, so saying why tells nothing about this one.
    let (code, message) = match reason {
        Refusal::GuestsNotAllowed => (ErrorCode::SignInRequired, SIGN_IN_REQUIRED),
        _ => (ErrorCode::AccessDenied, ACCESS_DENIED),
    };
    reply_error(state, outbox, code, message);
}

async fn refuse_rate_limited(
    state: &AppState,
    outbox: &mpsc::Sender<Outbound>,
    room: &RoomName,
    address: IpAddr,
    limited: Limited,
) {
    // A flood is counted in full but written to the log once per run of refusals, so that it
    // cannot turn into a flood of synchronous disk writes; either before the answer.
    if limited.first {
        let detail = format!("limit={} address={address}", limited.key);
        state
            .audit(AuditAction::JoinRateLimited, room, None, Some(&detail))
            .await;
    } else {
        state.count(AuditAction::JoinRateLimited);
    }
    state.metrics.signalling_errors.inc();
    let retry_after_ms = u64::try_from(limited.wait.as_millis()).unwrap_or(u64::MAX);
    let _ = outbox.try_send(Outbound::plain(ServerMessage::Error {
        code: ErrorCode::RateLimited,
        message: format!(
            "too many join attempts: retry after {:.1} s",
            limited.wait.as_secs_f64()
        ),
        retry_after_ms: Some(retry_after_ms),
    }));
}

/// How a joiner got past the door.
enum Entry {
    /// Through the room's gate, which was this one (`None`: the room did not exist).
    Gate(Option<Gate>),
    /// With the room's moderator key.
    Host,
    /// With a ticket from the room that opened this breakout room, which [`join`] checks.
    Breakout(BreakoutTicket),
}

/// What a joiner shows at the door.
struct Credentials {
    password: Option<String>,
    moderator_key: Option<String>,
    breakout_of: Option<BreakoutTicket>,
}

/// Lets a joiner past the door: with a breakout ticket (checked by [`join`], under the rooms'
/// lock, with the room it is for), with the moderator key — the host's way past the lock, the
/// password and the lobby — or through the gate.
async fn pass_door(
    state: &AppState,
    room: &RoomName,
    credentials: Credentials,
    persistent: Option<&PersistentRoom>,
) -> Result<Entry, Refusal> {
    match credentials {
        Credentials {
            breakout_of: Some(_),
            ..
        } if persistent.is_some() => Err(Refusal::BreakoutTicketPersistentRoom),
        Credentials {
            breakout_of: Some(ticket),
            ..
        } => Ok(Entry::Breakout(ticket)),
        Credentials {
            moderator_key: Some(key),
            ..
        } => check_moderator_key(state, room, &key).map(|()| Entry::Host),
        Credentials { password, .. } => pass_gate(state, room, password, persistent)
            .await
            .map(Entry::Gate),
    }
}

/// Where a breakout room's joiner comes from.
struct BreakoutOrigin {
    main: RoomName,
    /// Its id there.
    participant: ParticipantId,
    /// Its role there, which it has in the breakout room too.
    role: Role,
}

/// Where the joiner of a breakout room comes from (`None`: `room` is no breakout room). A
/// breakout room, listed by a room or made as one, admits only a valid ticket's holder.
fn breakout_origin(
    state: &AppState,
    rooms: &HashMap<RoomName, Room>,
    room: &RoomName,
    entry: &Entry,
) -> Result<Option<BreakoutOrigin>, Refusal> {
    let is_breakout_room = rooms.get(room).is_some_and(Room::is_breakout)
        || rooms.values().any(|r| r.lists_breakout(room));
    match entry {
        Entry::Breakout(ticket) => check_ticket(state, rooms, room, ticket).map(Some),
        _ if is_breakout_room => Err(Refusal::BreakoutWithoutTicket),
        _ => Ok(None),
    }
}

/// A valid ticket names a live room that lists `room` (and made it, if it is live) and a
/// participant in that room's meeting, with the resume token of its session there (compared
/// in constant time).
fn check_ticket(
    state: &AppState,
    rooms: &HashMap<RoomName, Room>,
    room: &RoomName,
    ticket: &BreakoutTicket,
) -> Result<BreakoutOrigin, Refusal> {
    let main = RoomName::parse(&ticket.room)
        .and_then(|name| rooms.get(&name))
        .filter(|main| main.lists_breakout(room))
        .filter(|main| rooms.get(room).is_none_or(|r| r.is_breakout_of(main)))
        .ok_or(Refusal::BreakoutTicketNotOpened)?;
    let role = main
        .role_in_meeting(&ticket.participant_id)
        .ok_or(Refusal::BreakoutTicketWrong)?;
    let its_session = state
        .mailboxes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&ticket.participant_id)
        .is_some_and(|mailbox| {
            mailbox.room == *main.name()
                && bool::from(
                    mailbox
                        .token()
                        .as_bytes()
                        .ct_eq(ticket.resume_token.as_bytes()),
                )
        });
    if !its_session {
        return Err(Refusal::BreakoutTicketWrong);
    }
    Ok(BreakoutOrigin {
        main: main.name().clone(),
        participant: ticket.participant_id.clone(),
        role,
    })
}

/// A join with a moderator key must name an existing room and carry its key; like a password,
/// it never creates a room, and a refusal says no more than `access_denied`.
fn check_moderator_key(state: &AppState, room: &RoomName, key: &str) -> Result<(), Refusal> {
    let rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
    match rooms.get(room) {
        Some(r) if r.is_moderator_key(key) => Ok(()),
        _ => Err(Refusal::ModeratorKeyWrong),
    }
}

/// Who joins.
struct Joiner {
    id: ParticipantId,
    newcomer: Newcomer,
}

/// Enters the room if its gate is still the one passed (a lock or a new password may have
/// come while the password was being checked), the joiner of a breakout room holds a valid
/// ticket, and the account is not banned from it. A room that does not exist is made: a
/// breakout room under its main room's rules, a persistent room with its kept settings.
async fn join(
    state: &Arc<AppState>,
    room: &RoomName,
    joiner: Joiner,
    connection: Connection,
    entry: Entry,
    persistent: Option<PersistentRoom>,
) -> Result<(), Refusal> {
    let Joiner { id, newcomer } = joiner;
    let id = &id;
    let account = newcomer.account.clone();
    if account.is_none() && !state.org_settings().guests_may_join {
        return Err(Refusal::GuestsNotAllowed);
    }
    let knocked = {
        let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let origin = breakout_origin(state, &rooms, room, &entry)?;
        check_gate_unchanged(&rooms, room, &entry, persistent.as_ref())?;
        let new_room = (!rooms.contains_key(room))
            .then(|| make_room(state, &rooms, room, persistent, origin.as_ref()));
        if let Some(account) = &account
            && rooms
                .get(room)
                .or(new_room.as_ref())
                .is_some_and(|r| r.is_banned_account(account))
        {
            let detail = format!("account={}", account.username);
            state.record(AuditAction::BannedAccountRefused, room, None, Some(&detail));
            return Err(Refusal::BannedAccount);
        }
        let created = new_room.is_some();
        let room_state = match new_room {
            Some(new_room) => rooms.entry(room.clone()).insert_entry(new_room).into_mut(),
            None => rooms.get_mut(room).ok_or(Refusal::NoSuchRoom)?,
        };
        state
            .mailboxes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id.clone(), Mailbox::new(room.clone(), connection));
        let out = match origin {
            Some(origin) => room_state.join_breakout(id, newcomer, origin.role, origin.participant),
            None if matches!(entry, Entry::Host) => room_state.join_as_moderator(id, newcomer),
            None => room_state.join_signed_in(id, newcomer),
        };
        // Relays for the joiner, if it is in the meeting, and for whoever its arrival let in.
        let out = state.with_relays_first(room_state, out);
        state.metrics.rooms.set(rooms.len() as i64);
        announce_join(state, room, id, account.as_ref(), created, out)
    };
    state.metrics.participants.inc();
    tracing::info!(room = %room, participant = %id, knocked, "joined");
    Ok(())
}

/// Whether the room's gate (a persistent room's kept one, if it has no meeting going) is still
/// the one the joiner passed.
fn check_gate_unchanged(
    rooms: &HashMap<RoomName, Room>,
    room: &RoomName,
    entry: &Entry,
    persistent: Option<&PersistentRoom>,
) -> Result<(), Refusal> {
    let gate = rooms
        .get(room)
        .map(Room::gate)
        .or_else(|| persistent.map(kept_gate));
    match (entry, &gate) {
        (Entry::Host | Entry::Breakout(_), _) | (_, None | Some(Gate::Open)) => Ok(()),
        (Entry::Gate(passed), Some(gate)) if passed.as_ref() == Some(gate) => Ok(()),
        (Entry::Gate(_), Some(_)) => Err(Refusal::GateChanged),
    }
}

/// The room a join makes: a breakout room of its main room, a persistent room opening for a
/// meeting, or a new room.
fn make_room(
    state: &AppState,
    rooms: &HashMap<RoomName, Room>,
    room: &RoomName,
    persistent: Option<PersistentRoom>,
    origin: Option<&BreakoutOrigin>,
) -> Room {
    if let Some(main) = origin.and_then(|origin| rooms.get(&origin.main)) {
        return main.breakout_room(room.clone());
    }
    let new = Room::new(
        room.clone(),
        state.external_sender.clone(),
        state.org_settings().guests_create_rooms,
    );
    match persistent {
        Some(kept) => new.persistent(kept.settings, kept.password),
        None => new.with_settings(state.org_settings().new_rooms),
    }
}

/// Records a join and sends what it made, then the joiner's resume token; under the rooms'
/// lock, so that they keep their order. Whether the joiner knocked (waits in the lobby or for
/// a moderator).
fn announce_join(
    state: &AppState,
    room: &RoomName,
    id: &ParticipantId,
    account: Option<&Account>,
    created: bool,
    out: Vec<Outgoing>,
) -> bool {
    let knocked = out.iter().any(|(_, m)| {
        matches!(
            m,
            ServerMessage::Joined {
                group: GroupAction::WaitInLobby | GroupAction::WaitForModerator,
                ..
            }
        )
    });
    if created {
        state.record(AuditAction::RoomCreated, room, None, None);
    }
    let detail = account.map(|a| format!("account={}", a.username));
    state.record(
        AuditAction::ParticipantJoined,
        room,
        Some(id),
        detail.as_deref(),
    );
    if knocked {
        state.record(AuditAction::LobbyKnocked, room, Some(id), None);
    }
    state.dispatch_in(room, out);
    let token = state
        .mailboxes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .map(|m| m.token().to_owned());
    let blob_token = state.blobs.issue(room, id);
    state.dispatch_in(
        room,
        token
            .map(|token| (id.clone(), ServerMessage::ResumeToken { token, blob_token }))
            .into_iter()
            .collect(),
    );
    knocked
}

/// A joined participant's connection ended: a goodbye, or a participant no longer in the room
/// (removed by a moderator, the meeting ended), leaves; any other end (the network, a
/// half-open connection, a slow reader) parks the session for a resume within the window.
/// A connection whose session a newer connection resumed ends nothing.
async fn connection_ended(
    state: &Arc<AppState>,
    room: &RoomName,
    id: &ParticipantId,
    generation: u64,
    goodbye: bool,
) {
    let still_in_room = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(room)
        .is_some_and(|r| r.contains(id));
    let parked = {
        let mut mailboxes = state.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        match mailboxes.get_mut(id) {
            Some(mailbox) if !mailbox.is_live(generation) => return,
            Some(mailbox) => !goodbye && still_in_room && mailbox.park(generation, Instant::now()),
            None => false,
        }
    };
    if parked {
        tracing::info!(room = %room, participant = %id, "connection lost: waiting for a resume");
        let _ = state.with_room(room, |r| Ok(r.set_away(id, true)));
    } else {
        leave(state, room, id);
    }
}

/// The participant is gone for good: out of the SFU, its session and blob token ended, and out
/// of the room (its MLS removal proposed); the room's files go with the room.
pub(crate) fn leave(state: &Arc<AppState>, room: &RoomName, id: &ParticipantId) {
    state.media.remove_participant(id);
    state
        .mailboxes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id);
    {
        let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
        state.record(AuditAction::ParticipantLeft, room, Some(id), None);
        state.blobs.participant_left(room, id);
        if let Some(r) = rooms.get_mut(room) {
            state.dispatch_in(room, r.leave(id));
            if r.is_empty() {
                rooms.remove(room);
                state.blobs.room_ended(room);
                state.record(AuditAction::RoomEnded, room, None, None);
            }
        }
        state.metrics.rooms.set(rooms.len() as i64);
    }
    state.metrics.participants.dec();
    tracing::info!(room = %room, participant = %id, "left");
    // Its session in the room is over: so are its seats in the room's breakout rooms.
    leave_breakouts(state, room, id, RemovalReason::MeetingEnded);
}

fn reply_error(state: &AppState, outbox: &mpsc::Sender<Outbound>, code: ErrorCode, message: &str) {
    state.metrics.signalling_errors.inc();
    let _ = outbox.try_send(Outbound::plain(ServerMessage::Error {
        code,
        message: message.to_owned(),
        retry_after_ms: None,
    }));
}

/// 128 random bits: participant ids are not guessable, so one participant cannot name another's
/// connection in a forged message.
fn new_participant_id() -> ParticipantId {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a room's method returns, with the messages in it to send.
trait RoomOutput {
    /// Takes the messages out, to be queued before the room's lock is released.
    fn take_messages(&mut self) -> Vec<Outgoing>;
}

impl RoomOutput for Vec<Outgoing> {
    fn take_messages(&mut self) -> Vec<Outgoing> {
        std::mem::take(self)
    }
}

impl RoomOutput for Removal {
    fn take_messages(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.out)
    }
}

impl RoomOutput for bool {
    fn take_messages(&mut self) -> Vec<Outgoing> {
        Vec::new()
    }
}

impl RoomOutput for Vec<ParticipantId> {
    fn take_messages(&mut self) -> Vec<Outgoing> {
        Vec::new()
    }
}

impl AppState {
    /// Runs `f` on the room and queues the messages it produced while still holding the
    /// rooms' lock: each participant gets a room's messages in the order the room made them
    /// (a later participant list can never be overtaken by an earlier one).
    fn with_room<T: RoomOutput>(
        &self,
        room: &RoomName,
        f: impl FnOnce(&mut Room) -> Result<T, RoomError>,
    ) -> Result<T, RoomError> {
        self.with_room_then(room, f, |_, _| {})
    }

    /// [`Self::with_room`] for a moderator's action: if `f` succeeds, `by`'s record of it
    /// (`audit` of its output: what, and the detail) is queued before the room's answer, which
    /// then waits until the record is on disk.
    fn with_room_audited<T: RoomOutput>(
        &self,
        room: &RoomName,
        by: &ParticipantId,
        f: impl FnOnce(&mut Room) -> Result<T, RoomError>,
        audit: impl FnOnce(&T) -> (AuditAction, Option<String>),
    ) -> Result<T, RoomError> {
        self.with_room_then(room, f, |room, output| {
            let (action, detail) = audit(output);
            self.record(action, room, Some(by), detail.as_deref());
        })
    }

    /// [`Self::with_room`], with `before_answer` run on the output before its messages are
    /// queued.
    fn with_room_then<T: RoomOutput>(
        &self,
        room: &RoomName,
        f: impl FnOnce(&mut Room) -> Result<T, RoomError>,
        before_answer: impl FnOnce(&RoomName, &T),
    ) -> Result<T, RoomError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms
            .get_mut(room)
            .ok_or(RoomError::OutOfOrder("no such room"))?;
        let mut output = f(room)?;
        before_answer(room.name(), &output);
        let out = self.with_relays_first(room, output.take_messages());
        self.dispatch_in(room.name(), out);
        Ok(output)
    }

    /// `out`, the room's messages, after TURN relays for each participant the room let into
    /// the meeting since it was last asked: none before, as a relay is no way in for someone
    /// only knocking; credentials that expire soon (see [`crate::turn`]). First, so that a page
    /// let in from the lobby, whose PeerConnection exists already, has them before it offers;
    /// and sent even when there are none, as a browser makes its PeerConnection once it knows
    /// its relays.
    fn with_relays_first(&self, room: &mut Room, out: Vec<Outgoing>) -> Vec<Outgoing> {
        let now = std::time::SystemTime::now();
        room.take_newly_admitted()
            .into_iter()
            .map(|id| {
                let servers = crate::turn::ice_servers(&self.turn, &id, now)
                    .into_iter()
                    .collect();
                (id, ServerMessage::IceServers { servers })
            })
            .chain(out)
            .collect()
    }

    /// Queues messages `room` made, at once or once its last audit record is on disk (see
    /// [`crate::audit`]). Called under the rooms' lock.
    pub(crate) fn dispatch_in(&self, room: &RoomName, out: Vec<Outgoing>) {
        self.audit_log
            .dispatch_after_records(room, out, |out| self.dispatch(out));
    }

    /// Queues messages for their participants. A connection whose queue is full is closed:
    /// one slow client must not stall a room or grow the server's memory. So is one that was
    /// just told it is removed (its writer sends what is queued before closing).
    pub(crate) fn dispatch(&self, out: Vec<Outgoing>) {
        let mut mailboxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        for (to, message) in out {
            let Some(mailbox) = mailboxes.get_mut(&to) else {
                continue;
            };
            let removed = matches!(message, ServerMessage::Removed { .. });
            if mailbox.post(message) == Posted::QueueFull {
                tracing::warn!(participant = %to, "outbox full: closing the connection");
                mailbox.kick();
            } else if removed {
                mailbox.kick();
            }
        }
    }

    /// Whether the participant's numbered message `seq` is new (see
    /// [`Mailbox::take_client_seq`]); un-numbered messages are always taken.
    fn take_client_seq(&self, id: &ParticipantId, seq: u64) -> bool {
        self.mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
            .is_none_or(|mailbox| mailbox.take_client_seq(seq))
    }

    /// A new connection takes up a parked (or half-open) session.
    fn resume(
        &self,
        id: &ParticipantId,
        token: &str,
        last_seq: u64,
        connection: Connection,
    ) -> Result<RoomName, ResumeRefused> {
        let mut mailboxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        let mailbox = mailboxes.get_mut(id).ok_or(ResumeRefused::WrongToken)?;
        mailbox.resume(token, last_seq, connection, |replayed, last_client_seq| {
            ServerMessage::Resumed {
                replayed,
                last_client_seq,
            }
        })?;
        Ok(mailbox.room.clone())
    }

    /// Ends a participant's session: its connection closes and it leaves (no resume).
    fn close(&self, id: &ParticipantId) {
        if let Some(mailbox) = self
            .mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            mailbox.end();
        }
    }

    /// Takes a join token from the address's bucket and the room's.
    fn take_join_token(&self, address: IpAddr, room: &RoomName) -> Result<(), Limited> {
        let now = Instant::now();
        let mut limits = self.join_limits.lock().unwrap_or_else(|p| p.into_inner());
        limits
            .per_address
            .take(&address, now)
            .map_err(|limited| limited.named("per_address"))?;
        limits
            .per_room
            .take(room, now)
            .map_err(|limited| limited.named("per_room"))
    }

    /// Counts an action in the metrics without writing it to the log.
    pub(crate) fn count(&self, action: AuditAction) {
        self.metrics
            .audit_events
            .get_or_create(&vec![("action", action.as_str())])
            .inc();
    }

    /// Queues an audit record and counts it: every audited action is also a metric. The
    /// room's messages made after this wait for the record (see [`crate::audit`]).
    fn record(
        &self,
        action: AuditAction,
        room: &RoomName,
        participant: Option<&str>,
        detail: Option<&str>,
    ) -> Ticket {
        self.count(action);
        self.audit_log
            .record(action, Some(room), participant, detail)
    }

    /// [`Self::record`], returning once the record is on disk.
    pub(crate) async fn audit(
        &self,
        action: AuditAction,
        room: &RoomName,
        participant: Option<&str>,
        detail: Option<&str>,
    ) {
        let ticket = self.record(action, room, participant, detail);
        self.audit_log.written(ticket).await;
    }
}
