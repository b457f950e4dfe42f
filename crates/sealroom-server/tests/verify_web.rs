//! `sealroom verify-web` (review finding H2): the binary fetches a server's web client file by
//! file and compares it with a local build. It matches an honest server, names every file a
//! server changed, and reaches a TLS server through the CA file it is given.

mod support;

use std::{
    ffi::OsStr,
    path::Path,
    process::{Command, Output},
};

use support::TestServer;

const SEALROOM: &str = env!("CARGO_BIN_EXE_sealroom");

/// A small web client, as web/build.mjs lays one out.
fn write_bundle(dir: &Path) {
    let files: [(&str, &[u8]); 4] = [
        (
            "index.html",
            b"<!doctype html><script type=\"module\" src=\"/app.js\"></script>",
        ),
        ("app.js", b"console.log('the honest client');"),
        ("styles.css", b"body { margin: 0 }"),
        ("sealroom_wasm_bg.wasm", b"\0asm\x01\0\0\0"),
    ];
    for (name, contents) in files {
        std::fs::write(dir.join(name), contents).unwrap();
    }
}

/// `sealroom verify-web --server URL` with `args`, run off the runtime's threads (the server
/// under test runs on them).
async fn verify_web(url: String, args: &[&OsStr]) -> Output {
    let mut command = Command::new(SEALROOM);
    command.args(["verify-web", "--server", &url]).args(args);
    tokio::task::spawn_blocking(move || command.output().expect("sealroom verify-web runs"))
        .await
        .unwrap()
}

/// `--web DIR`: compare with the web client in `dir`.
fn web(dir: &Path) -> [&OsStr; 2] {
    ["--web".as_ref(), dir.as_os_str()]
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_web_matches_an_honest_server_and_names_a_file_a_server_changed() {
    let local = tempfile::tempdir().unwrap();
    write_bundle(local.path());
    let served = tempfile::tempdir().unwrap();
    write_bundle(served.path());

    let honest = TestServer::start_with_web(Some(served.path().to_owned())).await;
    let output = verify_web(honest.url(), &web(local.path())).await;
    assert!(output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert!(report.lines().any(|line| line == "matches"), "{report}");
    let hashes: Vec<&str> = report
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3))
        .collect();
    assert_eq!(hashes.len(), 2, "{report}");
    assert_eq!(hashes[0], hashes[1], "the same bundle hash: {report}");

    // One byte of app.js flipped, as a compromised server would serve it.
    let app = served.path().join("app.js");
    let mut bytes = std::fs::read(&app).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&app, bytes).unwrap();
    let tampering = TestServer::start_with_web(Some(served.path().to_owned())).await;
    let output = verify_web(tampering.url(), &web(local.path())).await;
    assert!(!output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert!(
        report.lines().any(|line| line == "app.js: differs"),
        "{report}"
    );
    assert!(!report.contains("matches"), "{report}");
    assert!(
        !report.contains("index.html") && !report.contains("styles.css"),
        "only the changed file is named: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_web_reaches_a_tls_server_only_through_the_certificate_it_is_given() {
    let bundle = tempfile::tempdir().unwrap();
    write_bundle(bundle.path());
    let web_dir = bundle.path().to_owned();
    let server = TestServer::start_configured(|config| {
        config.web_dir = Some(web_dir);
        config.tls.self_signed = true;
    })
    .await;
    let ca_file = server.data.path().join("tls/cert.pem");

    let [flag, dir] = web(bundle.path());
    let pinned = [flag, dir, "--ca-file".as_ref(), ca_file.as_os_str()];
    let output = verify_web(server.url(), &pinned).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).lines().any(|line| line == "matches"));

    let unpinned = verify_web(server.url(), &web(bundle.path())).await;
    assert!(
        !unpinned.status.success(),
        "a certificate no root vouches for: {unpinned:?}"
    );
}

/// Only in a build with `embed-web` (scripts/test-browser runs it with web/dist embedded): the
/// server serves the web client in the binary without `--web`, and `verify-web` compares with
/// that one unless given a directory.
#[cfg(feature = "embed-web")]
#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_web_client_is_served_and_verified_without_a_directory() {
    let server = TestServer::start().await;
    let output = verify_web(server.url(), &[]).await;
    assert!(output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert!(report.contains("(embedded in this binary)"), "{report}");
    assert!(report.lines().any(|line| line == "matches"), "{report}");

    let built_from = Path::new(env!("SEALROOM_WEB_DIST"));
    let output = verify_web(server.url(), &web(built_from)).await;
    assert!(
        output.status.success(),
        "the directory it was built from: {output:?}"
    );
}
