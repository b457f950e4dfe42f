//! The operations of `benches/mls.rs`, done with openmls 0.9 directly (openmls_rust_crypto
//! provider with its in-memory storage, suite 0x0001), so the two implementations can be put side
//! by side. Sealroom chose mls-rs; these figures are part of why.
//!
//! Run: `cargo bench -p sealroom-e2ee --bench mls_openmls_compare`
//!
//! Same setup as `benches/mls.rs`: one bulk Add builds the group, "alice" (leaf 0) makes every
//! measured commit and "bob" (leaf 1) receives; the "fresh" tree has only alice's direct path set,
//! the "filled" tree every parent node above a member. Same accounting, too: each timed operation
//! takes and yields serialized MLS messages (a commit decodes and validates the key package it
//! adds and serializes the commit and Welcome; a receiver decodes, verifies and merges), commits
//! always carry a path, handshakes are PublicMessage, and the Welcome carries the ratchet tree.
//! Untimed steps put the group back to N members after each iteration; nothing is cloned.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use openmls::prelude::{self as om, OpenMlsProvider as _, tls_codec::DeserializeBytes};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

const SIZES: [usize; 3] = [10, 100, 1_000];
const BOB: u32 = 1;
const CIPHERSUITE: om::Ciphersuite = om::Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

fn decode(bytes: &[u8]) -> om::MlsMessageBodyIn {
    om::MlsMessageIn::tls_deserialize_exact_bytes(bytes)
        .expect("well-formed MLS message")
        .extract()
}

fn credential(name: &str, signer: &SignatureKeyPair) -> om::CredentialWithKey {
    om::CredentialWithKey {
        credential: om::BasicCredential::new(name.as_bytes().to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    }
}

/// A serialized key package for `name`, its private keys kept in `provider`.
fn key_package(provider: &OpenMlsRustCrypto, name: &str) -> Vec<u8> {
    let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
    let bundle = om::KeyPackage::builder()
        .build(CIPHERSUITE, provider, &signer, credential(name, &signer))
        .unwrap();
    om::MlsMessageOut::from(bundle).to_bytes().unwrap()
}

/// One openmls client: its provider (crypto and storage), signature key and group.
struct Member {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: om::CredentialWithKey,
    group: Option<om::MlsGroup>,
}

impl Member {
    fn new(name: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let credential = credential(name, &signer);
        Self {
            provider,
            signer,
            credential,
            group: None,
        }
    }

    /// A fresh client and one of its key packages, made outside the timed section. Names are
    /// unique, as Sealroom's bench does.
    fn joiner() -> (Self, Vec<u8>) {
        static JOINERS: AtomicU64 = AtomicU64::new(0);
        let member = Self::new(&format!(
            "joiner-{}",
            JOINERS.fetch_add(1, Ordering::Relaxed)
        ));
        let key_package = member.key_package();
        (member, key_package)
    }

    fn key_package(&self) -> Vec<u8> {
        let bundle = om::KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .unwrap();
        om::MlsMessageOut::from(bundle).to_bytes().unwrap()
    }

    fn join_config() -> om::MlsGroupJoinConfig {
        om::MlsGroupJoinConfig::builder()
            .wire_format_policy(om::PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build()
    }

    fn create_group(&mut self) {
        let config = om::MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(om::PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build();
        self.group = Some(
            om::MlsGroup::new(
                &self.provider,
                &self.signer,
                &config,
                self.credential.clone(),
            )
            .unwrap(),
        );
    }

    fn join(&mut self, welcome: &[u8]) {
        let om::MlsMessageBodyIn::Welcome(welcome) = decode(welcome) else {
            panic!("expected a Welcome");
        };
        let group = om::StagedWelcome::new_from_welcome(
            &self.provider,
            &Self::join_config(),
            welcome,
            None,
        )
        .unwrap()
        .into_group(&self.provider)
        .unwrap();
        self.group = Some(group);
    }

    fn group(&self) -> &om::MlsGroup {
        self.group.as_ref().unwrap()
    }

    fn leaf(&self) -> u32 {
        self.group().own_leaf_index().u32()
    }

    /// Commits (always with a path) adding the key packages and removing the leaves, then
    /// merges it, as Sealroom's `commit` + `merge_pending_commit`. Returns (commit, Welcome).
    fn commit(&mut self, add: &[&[u8]], remove: &[u32]) -> (Vec<u8>, Option<Vec<u8>>) {
        let key_packages: Vec<om::KeyPackage> = add
            .iter()
            .map(|bytes| match decode(bytes) {
                om::MlsMessageBodyIn::KeyPackage(kp) => kp
                    .validate(self.provider.crypto(), om::ProtocolVersion::Mls10)
                    .unwrap(),
                _ => panic!("expected a key package"),
            })
            .collect();
        let Self {
            provider,
            signer,
            group,
            ..
        } = self;
        let group = group.as_mut().unwrap();
        let bundle = group
            .commit_builder()
            .propose_adds(key_packages)
            .propose_removals(remove.iter().map(|&leaf| om::LeafNodeIndex::new(leaf)))
            .force_self_update(true)
            .load_psks(provider.storage())
            .unwrap()
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .unwrap()
            .stage_commit(provider)
            .unwrap();
        let commit = bundle.commit().to_bytes().unwrap();
        let welcome = bundle.to_welcome_msg().map(|w| w.to_bytes().unwrap());
        group.merge_pending_commit(provider).unwrap();
        (commit, welcome)
    }

    /// Processes someone else's commit and merges it, as Sealroom's `process`.
    fn process(&mut self, commit: &[u8]) {
        let message = om::MlsMessageIn::tls_deserialize_exact_bytes(commit)
            .unwrap()
            .try_into_protocol_message()
            .unwrap();
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        match group
            .process_message(provider, message)
            .unwrap()
            .into_content()
        {
            om::ProcessedMessageContent::StagedCommitMessage(staged) => {
                group.merge_staged_commit(provider, *staged).unwrap()
            }
            _ => panic!("expected a commit"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    Fresh,
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

struct Fixture {
    alice: Member,
    bob: Member,
    size: usize,
    tree: Tree,
}

impl Fixture {
    fn new(size: usize, tree: Tree) -> Self {
        let mut alice = Member::new("alice");
        alice.create_group();
        let mut bob = Member::new("member-1");
        // The other members exist only as leaves; their private keys sit in one shared store.
        let crowd = OpenMlsRustCrypto::default();
        let mut key_packages = vec![bob.key_package()];
        key_packages.extend((2..size).map(|i| key_package(&crowd, &format!("member-{i}"))));
        let key_packages: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
        let (_, welcome) = alice.commit(&key_packages, &[]);
        bob.join(&welcome.unwrap());
        assert_eq!(alice.group().members().count(), size);
        assert_eq!(bob.leaf(), BOB);
        let mut fixture = Self {
            alice,
            bob,
            size,
            tree,
        };
        if tree == Tree::Filled {
            for leaf in (2..size as u32).step_by(2) {
                fixture.seat(leaf, true);
            }
        }
        fixture
    }

    fn commit_and_sync(&mut self, add: &[&[u8]], remove: &[u32]) -> Option<Vec<u8>> {
        let (commit, welcome) = self.alice.commit(add, remove);
        self.bob.process(&commit);
        welcome
    }

    /// Untimed: seats a new member at `leaf` (replacing whoever is there), who commits once if
    /// `self_update`. A newcomer at bob's leaf becomes bob.
    fn seat(&mut self, leaf: u32, self_update: bool) {
        let (mut newcomer, key_package) = Member::joiner();
        let occupied = self
            .alice
            .group()
            .member_at(om::LeafNodeIndex::new(leaf))
            .is_some();
        let remove: &[u32] = if occupied { &[leaf] } else { &[] };
        let (commit, welcome) = self.alice.commit(&[&key_package], remove);
        newcomer.join(&welcome.unwrap());
        assert_eq!(newcomer.leaf(), leaf);
        if leaf != BOB {
            self.bob.process(&commit);
        }
        if self_update {
            let (update, _) = newcomer.commit(&[], &[]);
            self.alice.process(&update);
            if leaf != BOB {
                self.bob.process(&update);
            }
        }
        if leaf == BOB {
            self.bob = newcomer;
        }
    }

    fn undo_add(&mut self, leaf: u32) {
        self.commit_and_sync(&[], &[leaf]);
        if self.tree == Tree::Filled {
            self.seat(self.size as u32 - 1, true);
        }
    }

    fn undo_remove(&mut self, leaf: u32) {
        self.seat(leaf, self.tree == Tree::Filled);
    }
}

fn bench_op(
    c: &mut Criterion,
    name: &str,
    fixture: &mut Fixture,
    mut operation: impl FnMut(&mut Fixture) -> Duration,
) {
    let mut group = c.benchmark_group(format!("openmls/{name}"));
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
    assert_eq!(fixture.alice.group().members().count(), fixture.size);
    assert_eq!(
        fixture.alice.group().epoch(),
        fixture.bob.group().epoch(),
        "bob followed"
    );
}

/// All sizes under `cargo bench`; only the small ones when `cargo test --benches` runs each
/// benchmark once as a smoke test (a debug build would take many minutes to build the
/// 1,000-member groups).
fn sizes() -> &'static [usize] {
    if std::env::args().any(|arg| arg == "--bench") {
        &SIZES
    } else {
        &SIZES[..1]
    }
}

fn mls_operations(c: &mut Criterion) {
    let sizes = sizes();
    let fixtures = sizes
        .iter()
        .map(|&size| (size, Tree::Fresh))
        .chain(sizes.iter().map(|&size| (size, Tree::Filled)));
    for (size, tree) in fixtures {
        let mut fixture = Fixture::new(size, tree);

        bench_op(c, "self_update", &mut fixture, |f| {
            let start = Instant::now();
            let (commit, _) = f.alice.commit(&[], &[]);
            let elapsed = start.elapsed();
            f.bob.process(black_box(&commit));
            elapsed
        });

        bench_op(c, "add_member", &mut fixture, |f| {
            let (_joiner, key_package) = Member::joiner();
            let start = Instant::now();
            let (commit, welcome) = f.alice.commit(&[&key_package], &[]);
            let elapsed = start.elapsed();
            black_box(welcome);
            f.bob.process(black_box(&commit));
            f.undo_add(f.size as u32);
            elapsed
        });

        bench_op(c, "remove_member", &mut fixture, |f| {
            let victim = f.size as u32 - 1;
            let start = Instant::now();
            let (commit, _) = f.alice.commit(&[], &[victim]);
            let elapsed = start.elapsed();
            f.bob.process(black_box(&commit));
            f.undo_remove(victim);
            elapsed
        });

        bench_op(c, "process_commit", &mut fixture, |f| {
            let (commit, _) = f.alice.commit(&[], &[]);
            let start = Instant::now();
            f.bob.process(&commit);
            start.elapsed()
        });

        bench_op(c, "join", &mut fixture, |f| {
            let (mut joiner, key_package) = Member::joiner();
            let welcome = f.commit_and_sync(&[&key_package], &[]).unwrap();
            let start = Instant::now();
            joiner.join(&welcome);
            let elapsed = start.elapsed();
            f.undo_add(black_box(&joiner).leaf());
            elapsed
        });
    }
}

criterion_group!(benches, mls_operations);
criterion_main!(benches);
