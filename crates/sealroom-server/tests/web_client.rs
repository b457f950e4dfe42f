//! The browser client's files are served at `/`, and any room path gets the single-page app.

mod support;

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
