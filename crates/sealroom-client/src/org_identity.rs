//! The native client's side of organisational identity (the rules are the core's, in
//! `sealroom-participant`): it fetches the organisation key the server presents, keeps the key
//! pinned for each server in `org-keys.json` next to the device key, and, signed in, asks for
//! the binding of its device key to its account that its MLS leaf then carries.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http_body_util::Full;
use hyper::{Method, Request, body::Bytes, header};
use sealroom_e2ee::{DeviceIdentity, OrgBinding, OrgKey};
use sealroom_participant::Participant;

use crate::{account::exchange, http::Origin, session::JoinOptions};

/// The file, next to the device key, that keeps each server's pinned organisation key.
const PIN_FILE: &str = "org-keys.json";
/// How long a request of ours may take: a server that does not answer delays the join no more.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a join knows of the organisation: the key pinned and the one presented, our binding.
#[derive(Debug, Default)]
pub(crate) struct OrgSetup {
    /// Where pins are kept; `None` (no device key file): the pin lasts this join only.
    pin_file: Option<PathBuf>,
    /// The server, as pins name it.
    server: String,
    pinned: Option<OrgKey>,
    presented: Option<OrgKey>,
    binding: Option<OrgBinding>,
    /// What could not be had, for the status's warnings.
    pub(crate) problems: Vec<String>,
}

impl OrgSetup {
    /// Fetches the key and, with a session, our binding; loads the pin. Nothing here stops a
    /// join: what fails is a warning, and the roster then names no account. A guest without a
    /// device key file has no binding and nowhere to keep a pin: it fetches nothing, and every
    /// binding it sees stays unverified (`no_organisation_key`).
    pub(crate) async fn prepare(options: &JoinOptions, identity: &DeviceIdentity) -> Self {
        let mut setup = Self {
            pin_file: options.device_key.as_deref().map(pin_file_beside),
            server: options.server.trim_end_matches('/').to_owned(),
            ..Self::default()
        };
        if options.session_token.is_none() && setup.pin_file.is_none() {
            return setup;
        }
        setup.pinned = setup.load_pin().unwrap_or_else(|e| setup.problem(e));
        setup.presented = fetch_key(options)
            .await
            .map(Some)
            .unwrap_or_else(|e| setup.problem(e));
        if let Some(token) = &options.session_token {
            setup.binding = fetch_binding(options, token, identity.public_key())
                .await
                .map(Some)
                .unwrap_or_else(|e| setup.problem(e));
        }
        setup
    }

    fn problem<T>(&mut self, text: String) -> Option<T> {
        self.problems.push(format!("organisation identity: {text}"));
        None
    }

    /// Gives a fresh core our binding and the keys to check members with.
    pub(crate) fn apply(&self, core: &mut Participant) -> Result<(), String> {
        if let Some(binding) = &self.binding {
            core.set_org_binding(binding.clone())
                .map_err(|e| e.to_string())?;
        }
        if let Some(presented) = self.presented {
            core.handle_organisation_key(self.pinned, presented);
        }
        core.handle_time(crate::session::unix_millis() / 1000);
        Ok(())
    }

    /// Keeps `key` as this server's pin (the core saw it first here).
    pub(crate) fn pin(&mut self, key: OrgKey) -> Result<(), String> {
        self.pinned = Some(key);
        let Some(path) = &self.pin_file else {
            return Ok(());
        };
        let mut pins = read_pins(path)?;
        pins.insert(self.server.clone(), URL_SAFE_NO_PAD.encode(key.to_bytes()));
        let text = serde_json::to_string_pretty(&pins).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn load_pin(&self) -> Result<Option<OrgKey>, String> {
        let Some(path) = &self.pin_file else {
            return Ok(None);
        };
        let pins = read_pins(path)?;
        let Some(text) = pins.get(&self.server) else {
            return Ok(None);
        };
        decode_key(text)
            .map(Some)
            .ok_or_else(|| format!("{}: the pin for {} is damaged", path.display(), self.server))
    }
}

fn pin_file_beside(device_key: &Path) -> PathBuf {
    device_key
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(PIN_FILE)
}

fn read_pins(path: &Path) -> Result<BTreeMap<String, String>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn decode_key(text: &str) -> Option<OrgKey> {
    OrgKey::from_bytes(&URL_SAFE_NO_PAD.decode(text).ok()?)
}

async fn fetch_key(options: &JoinOptions) -> Result<OrgKey, String> {
    let answer = request(options, Method::GET, "/api/org/identity-key", None, None).await?;
    answer["key"]
        .as_str()
        .and_then(decode_key)
        .ok_or_else(|| "the server's organisation key is not one".to_owned())
}

async fn fetch_binding(
    options: &JoinOptions,
    token: &str,
    device_key: &[u8],
) -> Result<OrgBinding, String> {
    let body = serde_json::json!({ "device_key": URL_SAFE_NO_PAD.encode(device_key) });
    let path = "/api/account/identity-binding";
    let answer = request(options, Method::POST, path, Some(token), Some(body)).await?;
    answer["binding"]
        .as_str()
        .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
        .and_then(|bytes| OrgBinding::decode(&bytes))
        .ok_or_else(|| "the server's binding is not one".to_owned())
}

/// One JSON request to the server's API: the answer, or why there is none.
async fn request(
    options: &JoinOptions,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        exchange_json(options, method, path, token, body),
    )
    .await
    .map_err(|_| format!("{path}: no answer"))?
}

async fn exchange_json(
    options: &JoinOptions,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let origin = Origin::parse(&options.server).ok_or("the server URL is not http(s)")?;
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, origin.authority())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let mut sender = origin.connect(options.ca_file.as_deref()).await?;
    let (status, _, bytes) = exchange(&mut sender, request)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{path}: {status}"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))
}
