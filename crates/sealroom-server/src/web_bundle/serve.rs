//! Serving a [`WebBundle`] from memory: its files by path, the page for every other path, and
//! its manifest.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{INDEX, WebBundle};

/// Where the server serves its bundle's manifest (text): the page hashes it for the security
/// panel, and `sealroom verify-web` checks it against the files served.
pub const MANIFEST_PATH: &str = "/api/web-bundle";

/// A file ready to serve.
struct ServedFile {
    contents: Bytes,
    content_type: HeaderValue,
    /// Its SHA-256, quoted: a browser revalidates (`Cache-Control: no-cache`) and gets 304
    /// while the file is the same, the new file as soon as it is not.
    etag: HeaderValue,
}

/// The routes serving `bundle`: `MANIFEST_PATH`, and as the fallback (GET and HEAD) each file
/// at `/<path>` and the page at any other path (a room, `/<room-name>`).
pub fn router(bundle: WebBundle) -> Router {
    let manifest = bundle.manifest();
    let files: HashMap<String, ServedFile> = bundle
        .files()
        .map(|(path, contents)| {
            let hash = manifest
                .hash_of(path)
                .expect("the manifest lists every file");
            let served = ServedFile {
                contents: contents.clone(),
                content_type: content_type(path),
                etag: HeaderValue::try_from(format!("\"{}\"", hex::encode(hash)))
                    .expect("hex is a header value"),
            };
            (path.to_owned(), served)
        })
        .collect();
    let manifest = manifest.text();
    Router::new()
        .route(
            MANIFEST_PATH,
            get(|| async move { ([(header::CACHE_CONTROL, "no-cache")], manifest) }),
        )
        .fallback_service(get(serve_file).with_state(Arc::new(files)))
}

async fn serve_file(
    State(files): State<Arc<HashMap<String, ServedFile>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let requested = uri.path().trim_start_matches('/');
    // Every bundle has its page (`WebBundle::new`).
    let file = files.get(requested).unwrap_or_else(|| &files[INDEX]);
    let cache = [
        (header::ETAG, file.etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if headers.get(header::IF_NONE_MATCH) == Some(&file.etag) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, file.content_type.clone())];
    (cache, content_type, file.contents.clone()).into_response()
}

fn content_type(path: &str) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    HeaderValue::try_from(mime.essence_str()).expect("a MIME type is a header value")
}
