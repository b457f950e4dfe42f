//! What the media tests share: clients with a fixed group key, and the in-test relay that plays
//! the SFU (honest, or misbehaving through a hook).

// Each test crate compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod relay;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_client::media::{Media, MediaConfig, SyntheticMedia};
use sealroom_e2ee::sframe::{CipherSuite, MediaKeyring};

use relay::Relay;

pub const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
pub const EPOCH: u64 = 1;
pub const BASE_KEY: [u8; 16] = [0x5e; 16];
pub const OTHER_BASE_KEY: [u8; 16] = [0x77; 16];
pub const TIMEOUT: Duration = Duration::from_secs(6);

pub const AUDIO_AND_VIDEO: SyntheticMedia = SyntheticMedia {
    audio: true,
    video: true,
    simulcast: false,
};

/// A keyring sending as `leaf` in epoch [`EPOCH`] of a group whose SFrame base key is `base_key`.
pub fn keyring(leaf: u32, base_key: [u8; 16]) -> Arc<Mutex<MediaKeyring>> {
    let mut keys = MediaKeyring::new(SUITE);
    keys.install_epoch(Duration::ZERO, EPOCH, &base_key, leaf)
        .unwrap();
    Arc::new(Mutex::new(keys))
}

pub async fn start(
    publish: Option<SyntheticMedia>,
    keys: Arc<Mutex<MediaKeyring>>,
    origin: Instant,
) -> (String, Media) {
    let config = MediaConfig {
        bind_ip: Ipv4Addr::LOCALHOST.into(),
        publish,
        suite: SUITE,
    };
    let (media, offer) = Media::start(config, keys, origin)
        .await
        .expect("media starts");
    (offer, media)
}

/// Starts a client and joins it to the relay; returns it with its id at the relay.
pub async fn connect(
    relay: &Relay,
    publish: Option<SyntheticMedia>,
    keys: Arc<Mutex<MediaKeyring>>,
    origin: Instant,
) -> (Media, usize) {
    let (offer, media) = start(publish, keys, origin).await;
    let (id, answer) = relay.join(offer).await;
    media.accept_answer(&answer).await.expect("answer accepted");
    (media, id)
}

/// Renegotiates so client `to` receives the other clients' `tracks` tracks. str0m tells the
/// relay about a client's tracks only once that client is connected, hence the wait.
pub async fn forward_tracks(relay: &Relay, to: usize, media: &Media, tracks: usize) {
    let mut offer = None;
    eventually("the relay knows the tracks to forward", async || {
        offer = relay.offer_tracks(to, tracks).await;
        offer.is_some()
    })
    .await;
    let offer = offer.expect("tracks to offer");
    let answer = media.accept_offer(&offer).await.expect("offer accepted");
    relay.accept_answer(to, answer).await;
}

pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
