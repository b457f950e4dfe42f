//! HTTP/1.1 connections to the Sealroom server (or a TLS one), for the client's requests
//! outside the signalling: signing in and the blob store.

use std::{path::Path, sync::Arc};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::session::pinned_roots;

/// Where a server's HTTP API is: `http(s)://host[:port]`.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    tls: bool,
    authority: String,
}

impl Origin {
    /// The origin of a server base URL; `None` if it is not `http(s)://host[:port]`.
    pub(crate) fn parse(server: &str) -> Option<Self> {
        let server = server.trim_end_matches('/');
        let (tls, authority) = match (
            server.strip_prefix("http://"),
            server.strip_prefix("https://"),
        ) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return None,
        };
        (!authority.is_empty() && !authority.contains('/')).then(|| Self {
            tls,
            authority: authority.to_owned(),
        })
    }

    /// `host[:port]`, for the `Host` header.
    pub(crate) fn authority(&self) -> &str {
        &self.authority
    }

    /// Opens a connection for requests with bodies of type `B`; TLS trusts only `ca_file`'s
    /// certificates if given, else the public web roots.
    pub(crate) async fn connect<B>(&self, ca_file: Option<&Path>) -> Result<SendRequest<B>, String>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = TcpStream::connect(self.host_and_port())
            .await
            .map_err(|e| e.to_string())?;
        // Bulk transfers go in large writes; small requests should not wait for an ACK.
        let _ = stream.set_nodelay(true);
        if !self.tls {
            return handshake(stream).await;
        }
        let config = match ca_file {
            Some(ca_file) => pinned_roots(ca_file).map_err(|e| e.to_string())?,
            None => rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
                .with_no_client_auth(),
        };
        let host = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(host, _)| host);
        let name = rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .map_err(|e| e.to_string())?;
        handshake(stream).await
    }

    /// `host:port`, with the scheme's port when the URL has none.
    fn host_and_port(&self) -> String {
        let has_port = self
            .authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok() && !port.contains(']'));
        match (has_port, self.tls) {
            (true, _) => self.authority.clone(),
            (false, true) => format!("{}:443", self.authority),
            (false, false) => format!("{}:80", self.authority),
        }
    }
}

/// An HTTP/1.1 connection on `stream`, driven by a task of its own until its sender is dropped.
async fn handshake<S, B>(stream: S) -> Result<SendRequest<B>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}
