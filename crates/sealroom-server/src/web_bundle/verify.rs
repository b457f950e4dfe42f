//! `sealroom verify-web`: fetches a server's web client file by file, hashes it with the same
//! [`Manifest`] the server uses, and compares it with a bundle known here (the one embedded in
//! this binary, or a directory built from the same sources).

use std::{collections::BTreeSet, path::Path, time::Duration};

use anyhow::Context;
use axum::{
    body::Bytes,
    http::{StatusCode, Uri},
};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use sha2::{Digest, Sha256};

use super::{INDEX, MANIFEST_PATH, Manifest, is_servable};

/// How long one request may take, its body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest file taken (the wasm module is about 1.5 MB).
const MAX_FILE_BYTES: usize = 64 << 20;

/// What a server serves as its web client.
#[derive(Debug)]
pub struct Served {
    /// The files fetched, hashed.
    pub files: Manifest,
    /// The manifest it serves at [`MANIFEST_PATH`], whose hash its pages show.
    pub listed: Manifest,
    /// The SHA-256 of what `/` serves, the page a browser loads (`None`: not 200 OK).
    pub root_page: Option<[u8; 32]>,
}

impl Served {
    /// Fetches from `server` its manifest, every file the manifest or `expected` lists, and
    /// `/`. `ca_file`: trust only its certificates, as `sealroom join --ca-file` does.
    pub async fn fetch(
        server: &str,
        ca_file: Option<&Path>,
        expected: &Manifest,
    ) -> anyhow::Result<Self> {
        let http = Http::new(server, ca_file)?;
        let listed = http.get(MANIFEST_PATH).await?.with_context(|| {
            format!("{server} serves no web bundle manifest at {MANIFEST_PATH}")
        })?;
        let listed = Manifest::parse(std::str::from_utf8(&listed)?)?;
        // A name that is no URL path cannot be fetched: it stays out of `files` and shows as
        // a difference.
        let paths: BTreeSet<&str> = expected.paths().chain(listed.paths()).collect();
        let mut fetched = Vec::new();
        for path in paths.into_iter().filter(|path| is_servable(path)) {
            if let Some(contents) = http.get(&format!("/{path}")).await? {
                fetched.push((path, contents));
            }
        }
        let files = Manifest::of(fetched.iter().map(|(path, bytes)| (*path, bytes.as_ref())));
        let root_page = http.get("/").await?.map(|page| Sha256::digest(page).into());
        Ok(Self {
            files,
            listed,
            root_page,
        })
    }

    /// Every way this differs from `expected`, one line each: none when it matches.
    pub fn differences(&self, expected: &Manifest) -> Vec<String> {
        let mut lines: Vec<String> = expected
            .differences(&self.files)
            .iter()
            .map(ToString::to_string)
            .collect();
        if self.root_page.as_ref() != expected.hash_of(INDEX) {
            lines.push(format!(
                "/: the page browsers load is not the expected {INDEX}"
            ));
        }
        if self.listed != self.files {
            lines.push(format!(
                "{MANIFEST_PATH}: the manifest the server's pages show does not list the files \
                 it serves"
            ));
        }
        lines
    }
}

/// A client for one server's origin.
struct Http {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    origin: String,
}

impl Http {
    fn new(server: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client_config(ca_file)?)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            origin: origin(server)?,
        })
    }

    /// `GET path`: the body of a 200 OK answer, `None` for another status.
    async fn get(&self, path: &str) -> anyhow::Result<Option<Bytes>> {
        let uri: Uri = format!("{}{path}", self.origin).parse()?;
        let exchange = async {
            let response = self.client.get(uri).await?;
            if response.status() != StatusCode::OK {
                return Ok(None);
            }
            let body = Limited::new(response.into_body(), MAX_FILE_BYTES)
                .collect()
                .await
                .map_err(|error| anyhow::anyhow!(error))?;
            anyhow::Ok(Some(body.to_bytes()))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .with_context(|| format!("GET {path}: no answer within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("GET {path}"))
    }
}

/// `server` as `http(s)://host[:port]`, without a final `/`.
fn origin(server: &str) -> anyhow::Result<String> {
    let server = server.trim_end_matches('/');
    let authority = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"));
    match authority {
        Some(authority) if !authority.is_empty() && !authority.contains(['/', '?', '#']) => {
            Ok(server.to_owned())
        }
        _ => anyhow::bail!("invalid server URL {server:?}: expected http(s)://host[:port]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_an_origin() {
        assert_eq!(
            origin("https://meet.example/").unwrap(),
            "https://meet.example"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "meet.example",
            "https://",
            "https://meet.example/room",
            "ftp://x",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        Manifest::of(files.iter().map(|(path, body)| (*path, body.as_bytes())))
    }

    #[test]
    fn a_server_whose_pages_show_a_false_manifest_does_not_match() {
        let expected = manifest(&[("index.html", "<p>"), ("app.js", "1")]);
        let honest = Served {
            files: expected.clone(),
            listed: expected.clone(),
            root_page: expected.hash_of(INDEX).copied(),
        };
        assert!(honest.differences(&expected).is_empty());
        let lying = Served {
            files: manifest(&[("index.html", "<p>"), ("app.js", "2")]),
            ..honest
        };
        assert_eq!(
            lying.differences(&expected),
            [
                "app.js: differs",
                "/api/web-bundle: the manifest the server's pages show does not list the files \
                 it serves"
            ]
        );
    }
}
