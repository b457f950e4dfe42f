//! `sealroom-web-build`: builds `sealroom-wasm` for `wasm32-unknown-unknown` in release and runs
//! wasm-bindgen (target "web") on it, writing `sealroom_wasm.js`, `sealroom_wasm_bg.wasm` and
//! their `.d.ts` to `web/pkg/`.
//!
//! Run from anywhere in the repository: `cargo run --release --locked -p sealroom-web-build`.
//! The inner build uses its own target directory (`target/web-wasm`), so it never waits on the
//! lock of the `cargo run` that started it. wasm-bindgen comes in as a library of exactly the
//! macro's version, so no `wasm-bindgen-cli` needs installing; no `wasm-opt` is run (Debian's
//! breaks modules).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use wasm_bindgen_cli_support::Bindgen;

const WASM_CRATE: &str = "sealroom-wasm";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<()> {
    let root = repository_root()?;
    let target_dir = root.join("target").join("web-wasm");
    let out_dir = root.join("web").join("pkg");

    build_wasm(&root, &target_dir)?;
    let wasm = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join("sealroom_wasm.wasm");
    println!("wasm-bindgen {} -> {}", wasm.display(), out_dir.display());
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .typescript(true)
        // Function names only help a debugger; they cost about 170 KB of download.
        .remove_name_section(true)
        .generate(&out_dir)
        .context("wasm-bindgen")?;

    for file in [
        "sealroom_wasm.js",
        "sealroom_wasm_bg.wasm",
        "sealroom_wasm.d.ts",
    ] {
        let path = out_dir.join(file);
        let size = std::fs::metadata(&path)
            .with_context(|| format!("wasm-bindgen did not write {}", path.display()))?
            .len();
        println!("  {file}: {size} bytes");
    }
    Ok(())
}

/// The workspace root: two levels above this crate's manifest, whatever the working directory.
fn repository_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .context("crate is not under <root>/crates/")?;
    if !root.join("Cargo.toml").is_file() {
        bail!(
            "no Cargo.toml at the expected workspace root {}",
            root.display()
        );
    }
    Ok(root.to_path_buf())
}

/// rustc writes the absolute paths of the sources it compiles into panic messages: the cargo
/// home's (every dependency's source) and, for generated code, the repository's. Remapped, the
/// module is the same byte for byte whichever directories the build ran in (a reproducible
/// build, docs/SECURITY-MODEL.md, H2). Flags separated by 0x1f, as CARGO_ENCODED_RUSTFLAGS takes.
fn machine_independent_paths(root: &Path) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let mut remaps = vec![(root.to_path_buf(), "/sealroom")];
    remaps.extend(cargo_home.map(|home| (home, "/cargo")));
    remaps
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect::<Vec<_>>()
        .join("\x1f")
}

fn build_wasm(root: &Path, target_dir: &Path) -> Result<()> {
    // `cargo run` tells us which cargo it is; fall back to the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!(
        "building {WASM_CRATE} for {WASM_TARGET} in {}",
        target_dir.display()
    );
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            WASM_CRATE,
            "--target",
            WASM_TARGET,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags are for the host; the browser module gets its own.
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", machine_independent_paths(root))
        .env_remove("CARGO_BUILD_TARGET")
        // Whole-program optimisation for the module only (the workspace profile stays as it is
        // for host builds): about 15% smaller, and the frame path gets inlined across crates.
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build of {WASM_CRATE} for {WASM_TARGET} failed ({status})");
    }
    Ok(())
}
