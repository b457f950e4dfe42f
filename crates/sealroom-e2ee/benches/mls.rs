//! Sealroom's MLS operations (mls-rs, RustCrypto, suite 0x0001) on groups of 2 to 1,000 members.
//!
//! Run: `cargo bench -p sealroom-e2ee --bench mls`
//!
//! Each group is built once per size, as the public API allows: its creator ("alice", leaf 0)
//! commits one Add of N−1 key packages, and one member ("bob", leaf 1) joins from the Welcome;
//! the other members exist only as leaves of the tree. Alice is the committer of every measured
//! commit, bob the receiver. The group lists the delivery service as external sender, as real
//! rooms do.
//!
//! Tree shape matters, so each size runs on two trees:
//! - `fresh_tree`: right after the bulk add, every parent node off alice's direct path is blank,
//!   so each commit of hers encrypts its path secrets to every other member separately (about N
//!   HPKE encryptions). The committer's worst case: a room right after many joins that no one
//!   else has committed since.
//! - `filled_tree`: every parent node above a member is set (one member under each lowest parent
//!   node was replaced by a newcomer who committed once), as in a room whose members have made
//!   their periodic self-updates; a commit then encrypts to about log2(N) nodes.
//!
//! State-changing operations are measured with `iter_custom`: only the operation is timed, and an
//! untimed step puts the group back to N members (remove the member just added, re-add the one
//! just removed, and in the filled tree re-set the parent nodes that blanked) with bob following
//! every commit, so every iteration starts from a group of the same size and shape. Nothing here
//! clones or snapshots a group state.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use sealroom_e2ee::{Device, DeviceIdentity, ExternalSender, GroupSession, OutgoingCommit};

const SIZES: [usize; 4] = [2, 10, 100, 1_000];
const BOB: u32 = 1;

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("valid name"))
}

/// A fresh device and one of its key packages, made outside the timed section. Names are unique:
/// MLS refuses two members with the same identity.
fn joiner() -> (Device, Vec<u8>) {
    static JOINERS: AtomicU64 = AtomicU64::new(0);
    let device = device(&format!(
        "joiner-{}",
        JOINERS.fetch_add(1, Ordering::Relaxed)
    ));
    let key_package = device.key_package().expect("key package");
    (device, key_package)
}

/// The shape of the ratchet tree the operations run on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// Right after the bulk add: only alice's direct path is set.
    Fresh,
    /// Every parent node above a member is set, as after each member's periodic self-update.
    Filled,
}

impl Tree {
    fn label(self) -> &'static str {
        match self {
            Tree::Fresh => "fresh_tree",
            Tree::Filled => "filled_tree",
        }
    }
}

/// One group of `size` members as seen by its creator and by one receiving member.
struct Fixture {
    alice: GroupSession,
    bob: GroupSession,
    size: usize,
    tree: Tree,
}

impl Fixture {
    fn new(size: usize, tree: Tree) -> Self {
        assert!(size >= 2);
        let server = ExternalSender::new(DeviceIdentity::generate("delivery-service").unwrap());
        let mut alice = device("alice")
            .create_group(&[server.key().unwrap()])
            .expect("group");
        let members: Vec<Device> = (1..size).map(|i| device(&format!("member-{i}"))).collect();
        let key_packages: Vec<Vec<u8>> = members
            .iter()
            .map(|d| d.key_package().expect("key package"))
            .collect();
        let key_packages: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
        let add = alice.commit(&key_packages, &[]).expect("bulk add");
        alice.merge_pending_commit().expect("merge");
        let bob = members[0]
            .join_group(&add.welcome.expect("welcome"))
            .expect("bob joins");
        assert_eq!(alice.roster().len(), size);
        assert_eq!(bob.own_leaf_index(), BOB);
        let mut fixture = Self {
            alice,
            bob,
            size,
            tree,
        };
        if tree == Tree::Filled {
            // A member that commits sets every node on its direct path; one committer under
            // each lowest parent node sets them all.
            for leaf in (2..size as u32).step_by(2) {
                fixture.seat(leaf, true);
            }
        }
        fixture
    }

    /// Untimed bookkeeping: alice commits, the delivery service accepts, bob follows.
    fn commit_and_sync(&mut self, key_packages: &[&[u8]], remove: &[u32]) -> OutgoingCommit {
        let commit = self.alice.commit(key_packages, remove).expect("commit");
        self.alice.merge_pending_commit().expect("merge");
        self.bob.process(&commit.commit).expect("bob follows");
        commit
    }

    /// Untimed: seats a new member at `leaf` (replacing whoever is there). If `self_update`, the
    /// newcomer commits once, which sets every parent node on its direct path. A newcomer at
    /// bob's leaf becomes bob.
    fn seat(&mut self, leaf: u32, self_update: bool) {
        let (device, key_package) = joiner();
        let occupied = self.alice.roster().iter().any(|m| m.leaf_index == leaf);
        let remove: &[u32] = if occupied { &[leaf] } else { &[] };
        let add = self.alice.commit(&[&key_package], remove).expect("seat");
        self.alice.merge_pending_commit().expect("merge");
        let mut newcomer = device.join_group(&add.welcome.unwrap()).expect("join");
        assert_eq!(newcomer.own_leaf_index(), leaf);
        if leaf != BOB {
            self.bob.process(&add.commit).expect("bob follows");
        }
        if self_update {
            let update = newcomer.commit(&[], &[]).expect("self-update");
            newcomer.merge_pending_commit().expect("merge");
            self.alice.process(&update.commit).expect("alice follows");
            if leaf != BOB {
                self.bob.process(&update.commit).expect("bob follows");
            }
        }
        if leaf == BOB {
            self.bob = newcomer;
        }
    }

    /// Untimed: undoes the addition of the member at `leaf` and repairs the tree.
    fn undo_add(&mut self, leaf: u32) {
        self.commit_and_sync(&[], &[leaf]);
        if self.tree == Tree::Filled {
            // Removing the newcomer blanked its direct path, which it shares with the last
            // member; that member's replacement sets it again.
            self.seat(self.size as u32 - 1, true);
        }
    }

    /// Untimed: undoes the removal of the member at `leaf`.
    fn undo_remove(&mut self, leaf: u32) {
        self.seat(leaf, self.tree == Tree::Filled);
    }
}

/// Times `operation` once per iteration; `operation` returns the measured duration and leaves
/// the group as it found it.
fn bench_op(
    c: &mut Criterion,
    name: &str,
    fixture: &mut Fixture,
    mut operation: impl FnMut(&mut Fixture) -> Duration,
) {
    let mut group = c.benchmark_group(format!("sealroom/{name}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let id = BenchmarkId::new(fixture.tree.label(), fixture.size);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| operation(fixture)).sum())
    });
    group.finish();
    assert_eq!(
        fixture.alice.roster().len(),
        fixture.size,
        "group size restored"
    );
    assert_eq!(fixture.alice.epoch(), fixture.bob.epoch(), "bob followed");
}

/// All sizes under `cargo bench`; only the small ones when `cargo test --benches` runs each
/// benchmark once as a smoke test (a debug build would take many minutes to build the
/// 1,000-member groups).
fn sizes() -> &'static [usize] {
    if std::env::args().any(|arg| arg == "--bench") {
        &SIZES
    } else {
        &SIZES[..2]
    }
}

fn mls_operations(c: &mut Criterion) {
    let sizes = sizes();
    let fixtures = sizes.iter().map(|&size| (size, Tree::Fresh)).chain(
        sizes
            .iter()
            .filter(|&&size| size > 2)
            .map(|&size| (size, Tree::Filled)),
    );
    for (size, tree) in fixtures {
        let mut fixture = Fixture::new(size, tree);

        // Committer: a self-update (commit with no proposals, path only), then merge.
        bench_op(c, "self_update", &mut fixture, |f| {
            let start = Instant::now();
            let commit = f.alice.commit(&[], &[]).expect("commit");
            f.alice.merge_pending_commit().expect("merge");
            let elapsed = start.elapsed();
            f.bob
                .process(black_box(&commit).commit.as_slice())
                .expect("bob follows");
            elapsed
        });

        // Committer: commit adding one member, with its Welcome, then merge.
        bench_op(c, "add_member", &mut fixture, |f| {
            let (_device, key_package) = joiner();
            let start = Instant::now();
            let commit = f.alice.commit(&[&key_package], &[]).expect("commit");
            let change = f.alice.merge_pending_commit().expect("merge");
            let elapsed = start.elapsed();
            f.bob
                .process(black_box(&commit).commit.as_slice())
                .expect("bob follows");
            f.undo_add(change.added[0].leaf_index);
            elapsed
        });

        // Committer: commit removing one member (the last leaf), then merge.
        bench_op(c, "remove_member", &mut fixture, |f| {
            let victim = f.size as u32 - 1;
            let start = Instant::now();
            let commit = f.alice.commit(&[], &[victim]).expect("commit");
            f.alice.merge_pending_commit().expect("merge");
            let elapsed = start.elapsed();
            f.bob
                .process(black_box(&commit).commit.as_slice())
                .expect("bob follows");
            f.undo_remove(victim);
            elapsed
        });

        // Receiver: bob processes (verifies and applies) alice's self-update commit.
        bench_op(c, "process_commit", &mut fixture, |f| {
            let commit = f.alice.commit(&[], &[]).expect("commit");
            f.alice.merge_pending_commit().expect("merge");
            let start = Instant::now();
            let incoming = f.bob.process(&commit.commit).expect("process");
            let elapsed = start.elapsed();
            black_box(incoming);
            elapsed
        });

        // Joiner: a new device joins a group of `size` members from the Welcome (tree inside).
        bench_op(c, "join", &mut fixture, |f| {
            let (device, key_package) = joiner();
            let add = f.commit_and_sync(&[&key_package], &[]);
            let welcome = add.welcome.expect("welcome");
            let start = Instant::now();
            let session = device.join_group(&welcome).expect("join");
            let elapsed = start.elapsed();
            f.undo_add(black_box(session).own_leaf_index());
            elapsed
        });
    }
}

criterion_group!(benches, mls_operations);
criterion_main!(benches);
