//! Signing in to an account on the server (`POST /api/session`), for a native client that joins
//! as that account rather than as a guest: the session token it gets goes in
//! [`crate::session::JoinOptions::session_token`].

use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, body::Bytes, client::conn::http1::SendRequest, header};
use serde::Serialize;

use crate::http::Origin;

/// What signing in takes.
#[derive(Clone, Debug, Serialize)]
pub struct Credentials {
    /// Account name.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The current TOTP code, for an account with a second factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<String>,
}

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The server URL is not http(s)://host[:port].
    #[error("invalid server URL {0:?}: expected http://host:port or https://host:port")]
    InvalidServerUrl(String),
    /// The server refused: `code` is its error code (`invalid_credentials`, `rate_limited`).
    #[error("sign-in refused ({status}, {code}): {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's error code.
        code: String,
        /// Its message.
        message: String,
        /// With 429: seconds until another attempt may succeed (`Retry-After`).
        retry_after_secs: Option<u64>,
    },
    /// The connection or the exchange failed.
    #[error("sign-in request: {0}")]
    Http(String),
}

fn http_error(error: impl std::fmt::Display) -> SignInError {
    SignInError::Http(error.to_string())
}

/// Signs in and returns the session token.
pub async fn sign_in(
    server: &str,
    ca_file: Option<&Path>,
    credentials: &Credentials,
) -> Result<String, SignInError> {
    let origin =
        Origin::parse(server).ok_or_else(|| SignInError::InvalidServerUrl(server.to_owned()))?;
    let body = serde_json::to_vec(credentials).map_err(http_error)?;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/session")
        .header(header::HOST, origin.authority())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(http_error)?;
    let mut sender = origin.connect(ca_file).await.map_err(http_error)?;
    let (status, retry_after, bytes) = exchange(&mut sender, request).await?;
    let answer: serde_json::Value = serde_json::from_slice(&bytes).map_err(http_error)?;
    if status.is_success() {
        return answer["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| http_error("the answer has no token"));
    }
    Err(SignInError::Refused {
        status,
        code: answer["error"].as_str().unwrap_or_default().to_owned(),
        message: answer["message"].as_str().unwrap_or_default().to_owned(),
        retry_after_secs: retry_after,
    })
}

/// One request: status, `Retry-After` and body.
pub(crate) async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<u64>, Bytes), SignInError> {
    let response = sender.send_request(request).await.map_err(http_error)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(http_error)?
        .to_bytes();
    Ok((status, retry_after, bytes))
}
