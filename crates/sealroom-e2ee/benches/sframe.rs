//! SFrame protect/unprotect against the floor: a bare AES-128-GCM seal/open of the same bytes.
//!
//! Run: `cargo bench -p sealroom-e2ee --bench sframe`

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sealroom_e2ee::sframe::{CipherSuite, MediaKeyring};

/// An Opus packet, a packet-sized video frame, a large video key frame.
const FRAME_SIZES: [usize; 3] = [100, 1_200, 50_000];
const NOW: Duration = Duration::from_secs(1);
/// What SFrame adds as AAD for a whole frame: a short header and the trailer byte.
const AAD: &[u8] = &[0x10, 0x00];

fn keyring(suite: CipherSuite, own_index: u32) -> MediaKeyring {
    let mut keyring = MediaKeyring::new(suite);
    let base_key = vec![0x42; suite.nk()];
    keyring
        .install_epoch(Duration::ZERO, 1, &base_key, own_index)
        .expect("epoch installs");
    keyring
}

fn bare_gcm() -> (Aes128Gcm, Nonce<aes_gcm::aead::consts::U12>) {
    let cipher = Aes128Gcm::new_from_slice(&[0x42; 16]).expect("16-byte key");
    // Nonce reuse is harmless here: nothing leaves the benchmark.
    (cipher, *Nonce::from_slice(&[7; 12]))
}

fn protect(c: &mut Criterion) {
    let (gcm, nonce) = bare_gcm();
    let mut group = c.benchmark_group("protect");
    for size in FRAME_SIZES {
        let frame = vec![0xab; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("aes128gcm_seal/{size}"), |b| {
            b.iter(|| {
                gcm.encrypt(
                    &nonce,
                    Payload {
                        msg: black_box(&frame),
                        aad: AAD,
                    },
                )
                .expect("seal")
            })
        });
        for (name, suite) in [
            ("sframe_gcm128", CipherSuite::AesGcm128Sha256),
            ("sframe_ctr_hmac_80", CipherSuite::AesCtr128HmacSha256_80),
        ] {
            let mut alice = keyring(suite, 0);
            group.bench_function(format!("{name}/{size}"), |b| {
                b.iter(|| alice.protect(0, black_box(&frame)).expect("protect"))
            });
        }
    }
    group.finish();
}

fn unprotect(c: &mut Criterion) {
    let (gcm, nonce) = bare_gcm();
    let mut group = c.benchmark_group("unprotect");
    for size in FRAME_SIZES {
        let frame = vec![0xab; size];
        group.throughput(Throughput::Bytes(size as u64));
        let sealed = gcm
            .encrypt(
                &nonce,
                Payload {
                    msg: &frame,
                    aad: AAD,
                },
            )
            .expect("seal");
        group.bench_function(format!("aes128gcm_open/{size}"), |b| {
            b.iter_batched(
                || sealed.clone(),
                |sealed| {
                    gcm.decrypt(
                        &nonce,
                        Payload {
                            msg: &sealed,
                            aad: AAD,
                        },
                    )
                    .expect("open")
                },
                BatchSize::SmallInput,
            )
        });
        // Every frame needs a fresh CTR, or the replay window would refuse it.
        let (mut alice, mut bob) = (
            keyring(CipherSuite::AesGcm128Sha256, 0),
            keyring(CipherSuite::AesGcm128Sha256, 1),
        );
        group.bench_function(format!("sframe_gcm128/{size}"), |b| {
            b.iter_batched(
                || alice.protect(0, &frame).expect("protect"),
                |wire| bob.unprotect(NOW, &wire).expect("unprotect"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = protect, unprotect
}
criterion_main!(benches);
