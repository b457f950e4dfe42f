//! The organisation's persistent rooms through the administration API (`manage_settings`), as
//! `sealroom room` makes them on the server's machine: list them, make one with its settings
//! and password, remove one. Each change is recorded with the account that made it.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use serde::Deserialize;

use super::{authorise, failed};
use crate::{
    AppState,
    accounts::api_error,
    org_roles::Permission,
    persistent_rooms::{self, PersistentRoomError},
    room::KeptSettings,
};

pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/admin/rooms", get(list).post(create))
        .route("/api/admin/rooms/{name}", delete(remove))
}

/// `GET /api/admin/rooms`: `[{"name","settings","password"}]`, `password` saying whether it
/// has one (never the hash).
async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ManageSettings).await {
        return refused;
    }
    match state.storage.persistent_rooms().await {
        Ok(rooms) => {
            let rooms: Vec<_> = rooms
                .into_iter()
                .map(|(name, room)| {
                    let password = room.password.is_some();
                    serde_json::json!({ "name": name, "settings": room.settings, "password": password })
                })
                .collect();
            Json(rooms).into_response()
        }
        Err(error) => failed(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRoom {
    name: String,
    #[serde(default)]
    settings: KeptSettings,
    password: Option<String>,
}

/// `POST /api/admin/rooms` `{"name","settings"?,"password"?}`: `201`; the password under the
/// room password policy.
async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(room): Json<NewRoom>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageSettings).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let made = persistent_rooms::create(
        &state.storage,
        state.room_password_policy(),
        &room.name,
        room.settings,
        room.password.as_deref(),
        Some(&caller.account),
    )
    .await;
    match made {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(error) => refusal(&error),
    }
}

/// `DELETE /api/admin/rooms/{name}`: the name is free again; a meeting going on carries on.
async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageSettings).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    match persistent_rooms::remove(&state.storage, &name, Some(&caller.account)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refusal(&error),
    }
}

fn refusal(error: &PersistentRoomError) -> Response {
    let (status, code) = match error {
        PersistentRoomError::InvalidName => (StatusCode::BAD_REQUEST, "invalid_room_name"),
        PersistentRoomError::Policy(_) => (StatusCode::BAD_REQUEST, "weak_password"),
        PersistentRoomError::Exists(_) => (StatusCode::CONFLICT, "room_exists"),
        PersistentRoomError::Missing(_) => (StatusCode::NOT_FOUND, "unknown_room"),
        PersistentRoomError::Hash(_) | PersistentRoomError::Storage(_) => return failed(error),
    };
    api_error(status, code, &error.to_string(), None)
}
