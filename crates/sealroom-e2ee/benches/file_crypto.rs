//! File encryption and decryption against the floor: a plain copy of the same bytes, fed the
//! same way (64 MiB, 1 MiB at a time, as a browser reads a file).
//!
//! Run: `cargo bench -p sealroom-e2ee --bench file_crypto`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealroom_e2ee::file_crypto::{FileDecryptor, FileEncryptor, FileKey};

const FILE_BYTES: usize = 64 * 1024 * 1024;
const PIECE_BYTES: usize = 1024 * 1024;

fn copy(file: &[u8]) -> Vec<u8> {
    let mut copied = Vec::new();
    for piece in file.chunks(PIECE_BYTES) {
        copied.extend_from_slice(black_box(piece));
    }
    copied
}

fn encrypt(file: &[u8]) -> (Vec<u8>, FileKey, [u8; 32]) {
    let (mut encryptor, key) = FileEncryptor::new().expect("randomness");
    let mut ciphertext = Vec::new();
    for piece in file.chunks(PIECE_BYTES) {
        ciphertext.extend(encryptor.update(piece).expect("within the size limit"));
    }
    let (last, sha256) = encryptor.finish().expect("within the size limit");
    ciphertext.extend(last);
    (ciphertext, key, sha256)
}

fn decrypt(ciphertext: &[u8], key: &FileKey, sha256: &[u8; 32]) -> Vec<u8> {
    let mut decryptor = FileDecryptor::new(key, FILE_BYTES as u64).expect("within the limit");
    let mut plaintext = Vec::new();
    for piece in ciphertext.chunks(PIECE_BYTES) {
        plaintext.extend(decryptor.update(piece).expect("authentic"));
    }
    plaintext.extend(decryptor.finish(sha256).expect("the offered file"));
    plaintext
}

fn file_crypto(c: &mut Criterion) {
    let file = vec![0xab; FILE_BYTES];
    let (ciphertext, key, sha256) = encrypt(&file);
    let mut group = c.benchmark_group("file_64MiB");
    group.throughput(Throughput::Bytes(FILE_BYTES as u64));
    group.sample_size(10);
    group.bench_function("plain_copy", |b| b.iter(|| copy(black_box(&file))));
    group.bench_function("encrypt", |b| b.iter(|| encrypt(black_box(&file))));
    group.bench_function("decrypt", |b| {
        b.iter(|| decrypt(black_box(&ciphertext), &key, &sha256))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = file_crypto
}
criterion_main!(benches);
