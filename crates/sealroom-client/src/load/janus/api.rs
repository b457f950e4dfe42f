//! The Janus API over its HTTP transport: a session, handles attached to a plugin, requests,
//! and the events Janus pushes, fetched by long-polling the session.
//!
//! Every request is a JSON POST with a `transaction` id. Janus answers `success` at once for
//! synchronous requests, or `ack` for plugin messages whose reply comes later as an `event`
//! carrying the same transaction; events nobody waits for (other publishers appearing, new
//! offers) go to the session's event channel.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, body::Bytes, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{
    net::TcpStream,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{debug, trace};

/// Where the Janus API is: `http://host:port/base`.
#[derive(Clone, Debug)]
pub(super) struct Api {
    authority: String,
    base_path: String,
}

impl Api {
    pub(super) fn new(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("the Janus URL must be http://host:port/path, not {url:?}"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_end_matches('/');
        anyhow::ensure!(
            !authority.is_empty() && !path.is_empty(),
            "the Janus URL must be http://host:port/path, not {url:?}"
        );
        Ok(Self {
            authority: authority.to_owned(),
            base_path: format!("/{path}"),
        })
    }

    /// One HTTP/1.1 exchange on a fresh connection; the body is JSON both ways.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to Janus at {}", self.authority))?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        connection.abort();
        if !status.is_success() {
            bail!(
                "Janus answered {status} to {path}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let value: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("Janus sent invalid JSON to {path}"))?;
        if value["janus"] == "error" {
            bail!("Janus error on {path}: {}", value["error"]);
        }
        Ok(value)
    }
}

/// What a plugin sent back: its `plugindata.data`, and the SDP if there is one.
#[derive(Debug)]
pub(super) struct PluginReply {
    pub(super) data: Value,
    pub(super) jsep: Option<Value>,
}

impl PluginReply {
    /// Reads a plugin reply out of a Janus `event` or `success`; a plugin-level error (an
    /// `error` field in the plugin's data) is an error here.
    pub(super) fn from_message(message: &Value) -> anyhow::Result<Self> {
        let data = message["plugindata"]["data"].clone();
        if let Some(error) = data.get("error") {
            bail!("Janus plugin error {}: {error}", data["error_code"]);
        }
        Ok(Self {
            data,
            jsep: message.get("jsep").cloned(),
        })
    }

    /// The SDP of a JSEP of the given type ("offer" or "answer").
    pub(super) fn sdp(&self, kind: &str) -> Option<&str> {
        let jsep = self.jsep.as_ref()?;
        (jsep["type"] == kind).then(|| jsep["sdp"].as_str())?
    }
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// A Janus session; its long poll runs until the session is destroyed or dropped.
pub(super) struct Session {
    api: Api,
    id: u64,
    waiters: Waiters,
    poll: JoinHandle<()>,
}

impl Session {
    /// Creates a session; the receiver gets every event no request waits for.
    pub(super) async fn create(
        api: &Api,
    ) -> anyhow::Result<(Self, mpsc::UnboundedReceiver<Value>)> {
        let created = api
            .call(
                Method::POST,
                &api.base_path,
                Some(&json!({"janus": "create", "transaction": transaction()})),
            )
            .await?;
        let id = created["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("Janus created no session: {created}"))?;
        let waiters = Waiters::default();
        let (events, event_rx) = mpsc::unbounded_channel();
        let poll = tokio::spawn(long_poll(api.clone(), id, waiters.clone(), events));
        Ok((
            Self {
                api: api.clone(),
                id,
                waiters,
                poll,
            },
            event_rx,
        ))
    }

    /// Attaches a handle to the VideoRoom plugin.
    pub(super) async fn attach_videoroom(&self) -> anyhow::Result<u64> {
        let attached = self
            .post(
                None,
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        attached["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("Janus attached no handle: {attached}"))
    }

    /// A plugin request Janus answers at once (`create`, `destroy`, `list`, ...).
    pub(super) async fn request(&self, handle: u64, body: Value) -> anyhow::Result<PluginReply> {
        let reply = self
            .post(Some(handle), json!({"janus": "message", "body": body}))
            .await?;
        PluginReply::from_message(&reply)
    }

    /// A plugin message whose reply comes as an event (`join`, `publish`, ...): sends it and
    /// waits for that event.
    pub(super) async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<PluginReply> {
        let transaction = transaction();
        let (reply, event) = oneshot::channel();
        lock(&self.waiters).insert(transaction.clone(), reply);
        let mut message = json!({"janus": "message", "body": body, "transaction": transaction});
        if let Some(jsep) = jsep {
            message["jsep"] = jsep;
        }
        if let Err(e) = self.post_as_is(Some(handle), message).await {
            lock(&self.waiters).remove(&transaction);
            return Err(e);
        }
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), event)
            .await
            .map_err(|_| anyhow!("no reply from Janus within 30 s"))?
            .map_err(|_| anyhow!("the Janus session ended"))?;
        PluginReply::from_message(&event)
    }

    /// A plugin message whose reply comes to the event channel, like any unsolicited event.
    pub(super) async fn send(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<()> {
        let mut message = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            message["jsep"] = jsep;
        }
        self.post(Some(handle), message).await.map(drop)
    }

    /// Destroys the session: Janus hangs up its handles' peer connections.
    pub(super) async fn destroy(&self) {
        if let Err(e) = self.post(None, json!({"janus": "destroy"})).await {
            debug!(session = self.id, error = %e, "destroying the Janus session");
        }
        self.poll.abort();
    }

    async fn post(&self, handle: Option<u64>, mut message: Value) -> anyhow::Result<Value> {
        message["transaction"] = transaction().into();
        self.post_as_is(handle, message).await
    }

    async fn post_as_is(&self, handle: Option<u64>, message: Value) -> anyhow::Result<Value> {
        let path = match handle {
            Some(handle) => format!("{}/{}/{handle}", self.api.base_path, self.id),
            None => format!("{}/{}", self.api.base_path, self.id),
        };
        self.api.call(Method::POST, &path, Some(&message)).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.poll.abort();
    }
}

/// Fetches the session's events until it is gone: each goes to the request waiting for its
/// transaction, or to `events`. A long poll also keeps the session alive.
async fn long_poll(api: Api, session: u64, waiters: Waiters, events: mpsc::UnboundedSender<Value>) {
    let path = format!("{}/{session}?maxev=16", api.base_path);
    loop {
        let batch = match api.call(Method::GET, &path, None).await {
            Ok(Value::Array(batch)) => batch,
            Ok(event) => vec![event],
            Err(e) => {
                debug!(session, error = %e, "long poll ended");
                return;
            }
        };
        for event in batch {
            trace!(session, %event, "Janus event");
            if event["janus"] == "keepalive" {
                continue;
            }
            let waiter = event["transaction"]
                .as_str()
                .and_then(|t| lock(&waiters).remove(t));
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(event);
                }
                None => {
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn transaction() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_splits_into_authority_and_base_path() {
        let api = Api::new("http://127.0.0.1:8088/janus/").unwrap();
        assert_eq!(api.authority, "127.0.0.1:8088");
        assert_eq!(api.base_path, "/janus");
        assert!(Api::new("https://example.org/janus").is_err());
        assert!(Api::new("http://127.0.0.1:8088").is_err());
    }

    #[test]
    fn plugin_errors_are_errors_and_jsep_is_read_by_type() {
        let error = json!({"janus": "event", "plugindata": {"data": {
            "videoroom": "event", "error_code": 426, "error": "No such room"}}});
        assert!(PluginReply::from_message(&error).is_err());
        let reply = PluginReply::from_message(&json!({"janus": "event",
            "plugindata": {"data": {"videoroom": "attached"}},
            "jsep": {"type": "offer", "sdp": "v=0"}}))
        .unwrap();
        assert_eq!(reply.data["videoroom"], "attached");
        assert_eq!(reply.sdp("offer"), Some("v=0"));
        assert_eq!(reply.sdp("answer"), None);
    }
}
