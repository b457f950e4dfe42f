//! What each MLS suite costs: key package size, commit and Welcome sizes, the time to make a key
//! package, to add a member and to join, in groups of 10 and 100 (fresh trees: the creator
//! added everyone at once); and SFrame protect/unprotect of each suite's media suite.
//!
//! Run: `cargo bench -p sealroom-e2ee --bench suites` (about 2 minutes). The sizes are printed
//! once per suite and group size.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use sealroom_e2ee::{Device, DeviceIdentity, GroupSession, MlsSuite, sframe::MediaKeyring};

const SIZES: [usize; 2] = [10, 100];
/// A packet-sized video frame.
const FRAME_BYTES: usize = 1_200;

fn label(suite: MlsSuite) -> String {
    format!("{:#06x}", suite.cipher_suite().raw_value())
}

/// A device with a unique name (MLS refuses two members of one identity) and a key package.
fn joiner(suite: MlsSuite) -> (Device, Vec<u8>) {
    static JOINERS: AtomicU64 = AtomicU64::new(0);
    let name = format!("joiner-{}", JOINERS.fetch_add(1, Ordering::Relaxed));
    let device = Device::new(DeviceIdentity::generate_for(suite, &name).expect("identity"));
    let key_package = device.key_package().expect("key package");
    (device, key_package)
}

/// A group of `size` members as its creator sees it.
fn meeting(suite: MlsSuite, size: usize) -> GroupSession {
    let (creator, _) = joiner(suite);
    let mut session = creator.create_group(&[]).expect("group");
    let key_packages: Vec<Vec<u8>> = (1..size).map(|_| joiner(suite).1).collect();
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    session.commit(&refs, &[]).expect("bulk add");
    session.merge_pending_commit().expect("merge");
    session
}

/// Adds a new member (untimed unless `time_add`), lets it join (timed unless `time_add`), and
/// removes it again untimed, so the group keeps its size.
fn add_and_join(session: &mut GroupSession, suite: MlsSuite, time_add: bool) -> Duration {
    let (device, key_package) = joiner(suite);
    let start = Instant::now();
    let commit = session.commit(&[&key_package], &[]).expect("add");
    let change = session.merge_pending_commit().expect("merge");
    let added = start.elapsed();
    let start = Instant::now();
    let joined = device.join_group(&commit.welcome.expect("welcome"));
    let join = start.elapsed();
    black_box(joined.expect("join"));
    session
        .commit(&[], &[change.added[0].leaf_index])
        .expect("remove");
    session.merge_pending_commit().expect("merge");
    if time_add { added } else { join }
}

/// Both sizes under `cargo bench`; only the small one when `cargo test --benches` runs each
/// benchmark once as a smoke test in a debug build.
fn sizes() -> &'static [usize] {
    if std::env::args().any(|arg| arg == "--bench") {
        &SIZES
    } else {
        &SIZES[..1]
    }
}

fn print_sizes(suite: MlsSuite, size: usize, session: &mut GroupSession) {
    let (_, key_package) = joiner(suite);
    let commit = session.commit(&[&key_package], &[]).expect("add");
    session.discard_pending_commit().expect("discard");
    println!(
        "{} ({}), {size} members: key package {} B, add commit {} B, Welcome {} B",
        label(suite),
        suite.name(),
        key_package.len(),
        commit.commit.len(),
        commit.welcome.map_or(0, |w| w.len()),
    );
}

fn mls_per_suite(c: &mut Criterion) {
    let mut group = c.benchmark_group("suites");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for suite in MlsSuite::ALL {
        group.bench_function(BenchmarkId::new("key_package", label(suite)), |b| {
            b.iter(|| joiner(suite))
        });
        for &size in sizes() {
            let mut session = meeting(suite, size);
            print_sizes(suite, size, &mut session);
            for (operation, time_add) in [("add_member", true), ("join", false)] {
                let id = BenchmarkId::new(format!("{operation}/{}", label(suite)), size);
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| add_and_join(&mut session, suite, time_add))
                            .sum()
                    })
                });
            }
        }
    }
    group.finish();
}

fn sframe_per_suite(c: &mut Criterion) {
    let mut group = c.benchmark_group("suites/sframe");
    group.throughput(Throughput::Bytes(FRAME_BYTES as u64));
    let frame = vec![0xab; FRAME_BYTES];
    for suite in MlsSuite::ALL {
        let media = suite.sframe_suite();
        let base_key = vec![0x42; media.nk()];
        let keyring = |own: u32| {
            let mut keyring = MediaKeyring::new(media);
            keyring
                .install_epoch(Duration::ZERO, 1, &base_key, own)
                .expect("epoch");
            keyring
        };
        let (mut sender, mut receiver) = (keyring(0), keyring(1));
        group.bench_function(BenchmarkId::new("protect", label(suite)), |b| {
            b.iter(|| sender.protect(0, black_box(&frame)).expect("protect"))
        });
        group.bench_function(BenchmarkId::new("protect_unprotect", label(suite)), |b| {
            b.iter(|| {
                let wire = sender.protect(0, black_box(&frame)).expect("protect");
                receiver
                    .unprotect(Duration::ZERO, &wire)
                    .expect("unprotect")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mls_per_suite, sframe_per_suite);
criterion_main!(benches);
