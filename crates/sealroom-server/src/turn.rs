//! TURN REST API credentials (draft-uberti-behave-turn-rest, as coturn's `use-auth-secret`
//! implements it): the username is the expiry time and the participant, the password the
//! HMAC-SHA1 of the username under the secret shared with coturn. coturn checks them without
//! asking Sealroom, and they stop working when they expire: only for new allocations (coturn
//! checks a credential when a relay is allocated, and lets an allocation made with it run
//! on), so a short life costs a meeting nothing and leaves little to whoever copies one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sealroom_protocol::IceServer;
use sha1::Sha1;

use crate::config::TurnSettings;

/// Credentials last this long unless configured otherwise.
const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);

/// The ICE servers for one participant, if TURN is configured.
pub fn ice_servers(
    settings: &TurnSettings,
    participant: &str,
    now: SystemTime,
) -> Option<IceServer> {
    let secret = settings.shared_secret.as_ref()?;
    let ttl = settings
        .credential_ttl_secs
        .map_or(DEFAULT_TTL, Duration::from_secs);
    let expiry = (now + ttl)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let username = format!("{expiry}:{participant}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(username.as_bytes());
    Some(IceServer {
        urls: settings.urls.clone(),
        credential: STANDARD.encode(mac.finalize().into_bytes()),
        username,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_api() {
        let settings = TurnSettings {
            urls: vec!["turn:turn.example:3478".into()],
            shared_secret: Some("testsecret".into()),
            credential_ttl_secs: Some(3600),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_795_461_454);
        let server = ice_servers(&settings, "alice", now).unwrap();
        assert_eq!(server.username, "1795465054:alice");
        // `printf %s 1795465054:alice | openssl dgst -sha1 -hmac testsecret -binary | base64`
        assert_eq!(server.credential, "GB8Ry6+F0wDgUfe0kGvxLM1prbg=");
        assert!(ice_servers(&TurnSettings::default(), "alice", now).is_none());
    }
}
