//! Seed inputs. Each target builds its seeds in code (real messages: an encoded join, a real
//! SFrame ciphertext, operations that replay a real commit) and, when `SEALROOM_FUZZ_SEEDS`
//! names a directory, writes them there as it starts. `scripts/fuzz` points it at
//! `fuzz/corpus/<target>/`, where the seeds are committed: the seeds are deterministic, so
//! writing them again changes nothing unless the code that makes them changed.

use std::path::Path;

/// The variable naming the directory a target writes its seeds to.
pub const SEEDS_DIR_VAR: &str = "SEALROOM_FUZZ_SEEDS";

/// A named seed input.
pub type Seed = (&'static str, Vec<u8>);

/// Writes `seeds` as `seed-<name>` files into the directory `SEALROOM_FUZZ_SEEDS` names, if
/// it is set. Files already holding the same bytes are left alone.
///
/// # Panics
/// If the directory cannot be written: a run that was asked for seeds must not start without.
pub fn write_if_asked(seeds: impl FnOnce() -> Vec<Seed>) {
    let Some(dir) = std::env::var_os(SEEDS_DIR_VAR) else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)
        .unwrap_or_else(|e| panic!("cannot create seed directory {}: {e}", dir.display()));
    for (name, bytes) in seeds() {
        let path = dir.join(format!("seed-{name}"));
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        std::fs::write(&path, bytes)
            .unwrap_or_else(|e| panic!("cannot write seed {}: {e}", path.display()));
    }
}
