//! What Sealroom's fuzz targets share: a reader that turns libFuzzer's bytes into operations,
//! the fixtures of the stateful targets (a room with real MLS members, an SFU with connected
//! str0m clients), and the seed inputs each target writes for its corpus.
//!
//! The targets themselves are in `fuzz_targets/`; `scripts/fuzz` builds and runs them, and
//! `docs/FUZZING.md` says what each covers.

#![forbid(unsafe_code)]

pub mod delivery;
pub mod media;
pub mod ops;
pub mod seeds;
