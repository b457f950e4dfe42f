//! The browser client's files are served at `/`, and any room path gets the single-page app.

mod support;

use sealroom_server::web_bundle;
use support::TestServer;

#[tokio::test]
async fn web_client_is_served_with_the_app_for_room_paths() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>Sealroom</title>",
    )
    .unwrap();
    std::fs::write(web.path().join("app.js"), "console.log('sealroom')").unwrap();
    let server = TestServer::start_with_web(Some(web.path().to_owned())).await;

    let (head, body) = server.get("/").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("<title>Sealroom</title>"));
    let (_, body) = server.get("/app.js").await;
    assert_eq!(body, "console.log('sealroom')");
    let (head, body) = server.get("/quiet-otter-42").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.contains("<title>Sealroom</title>"),
        "a room path gets the app"
    );
    let (_, body) = server.get("/healthz").await;
    assert_eq!(body, "ok", "API routes win over the app");
}

/// The header `name` of a response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn the_manifest_lists_what_is_served_and_an_unchanged_file_is_not_sent_again() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(web.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let server = TestServer::start_with_web(Some(web.path().to_owned())).await;

    let (head, manifest) = server.get(web_bundle::MANIFEST_PATH).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let expected = web_bundle::WebBundle::read_dir(web.path())
        .unwrap()
        .manifest();
    assert_eq!(manifest, expected.text());

    let (head, _) = server.get("/core.wasm").await;
    assert_eq!(
        header(&head, "content-type"),
        Some("application/wasm"),
        "streaming compilation needs it"
    );
    let etag = header(&head, "etag").expect("an ETag");
    let if_none_match = format!("If-None-Match: {etag}");
    let (head, body) = server
        .request("GET", "/core.wasm", &[&if_none_match], "")
        .await;
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert!(body.is_empty());
}
