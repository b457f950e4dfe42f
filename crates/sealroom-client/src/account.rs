//! Signing in to an account on the server (`POST /api/session`), for a native client that joins
//! as that account rather than as a guest: the session token it gets goes in
//! [`crate::session::JoinOptions::session_token`].

use std::{path::Path, sync::Arc};

use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, body::Bytes, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::session::pinned_roots;

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
    let server = server.trim_end_matches('/');
    let (tls, authority) = match (
        server.strip_prefix("http://"),
        server.strip_prefix("https://"),
    ) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(SignInError::InvalidServerUrl(server.to_owned())),
    };
    if authority.is_empty() || authority.contains('/') {
        return Err(SignInError::InvalidServerUrl(server.to_owned()));
    }
    let body = serde_json::to_vec(credentials).map_err(http_error)?;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/session")
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(http_error)?;
    let stream = TcpStream::connect(host_and_port(authority, tls))
        .await
        .map_err(http_error)?;
    let (status, retry_after, bytes) = if tls {
        let config = match ca_file {
            Some(ca_file) => pinned_roots(ca_file).map_err(http_error)?,
            None => rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
                .with_no_client_auth(),
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host);
        let name = rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(http_error)?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .map_err(http_error)?;
        exchange(stream, request).await?
    } else {
        exchange(stream, request).await?
    };
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

/// `host:port`, with the scheme's port when the URL has none.
fn host_and_port(authority: &str, tls: bool) -> String {
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok() && !port.contains(']'));
    match (has_port, tls) {
        (true, _) => authority.to_owned(),
        (false, true) => format!("{authority}:443"),
        (false, false) => format!("{authority}:80"),
    }
}

/// One HTTP/1.1 request on `stream`: status, `Retry-After` and body.
async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<u64>, Bytes), SignInError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    let connection = tokio::spawn(connection);
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
    connection.abort();
    Ok((status, retry_after, bytes))
}
