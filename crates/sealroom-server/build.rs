//! With the `embed-web` feature the binary embeds the web client built into the directory
//! `SEALROOM_WEB_DIST` names (rust-embed reads it while compiling). rust-embed cannot tell cargo
//! what it read, so this does: the crate is rebuilt when the variable or a file in the
//! directory changes, and a missing or unbuilt directory is refused with the way to build it.
//! `sqlx::migrate!` embeds the migrations, which cargo does not see either: the crate is rebuilt
//! when one changes.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=migrations");
    if std::env::var_os("CARGO_FEATURE_EMBED_WEB").is_none() {
        return;
    }
    println!("cargo::rerun-if-env-changed=SEALROOM_WEB_DIST");
    let dist = std::env::var_os("SEALROOM_WEB_DIST").unwrap_or_else(|| {
        panic!(
            "the embed-web feature embeds the web client built into $SEALROOM_WEB_DIST: set it \
             to an absolute path and build there first (scripts/run does both)"
        )
    });
    let dist = Path::new(&dist);
    assert!(
        dist.is_absolute(),
        "SEALROOM_WEB_DIST must be an absolute path, not {}",
        dist.display()
    );
    assert!(
        dist.join("index.html").is_file(),
        "{} has no index.html: build the web client there first \
         (SEALROOM_WEB_DIST={} scripts/build-web)",
        dist.display(),
        dist.display()
    );
    // A directory: cargo looks at every file in it.
    println!("cargo::rerun-if-changed={}", dist.display());
}
