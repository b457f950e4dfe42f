//! Signalling messages as a peer sends them: any text into `sealroom_protocol::decode`, as a
//! client message (what the server parses) and as a server message (what clients parse).
//! Whatever decodes must encode and decode again to an equal message.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use sealroom_fuzz::seeds::{self, Seed};
use sealroom_protocol::{ClientMessage, ServerMessage, decode, encode};
use serde::{Serialize, de::DeserializeOwned};

fuzz_target!(
    init: seeds::write_if_asked(seed_messages),
    |data: &[u8]| {
        // WebSocket text frames are UTF-8; the server never sees anything else as text.
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        round_trip::<ClientMessage>(text);
        round_trip::<ServerMessage>(text);
    }
);

fn round_trip<T>(text: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(message) = decode::<T>(text) else {
        return;
    };
    let encoded = encode(&message);
    match decode::<T>(&encoded) {
        Ok(again) => assert_eq!(message, again, "{text:?} re-encoded as {encoded:?}"),
        Err(e) => panic!("{text:?} decoded, but its encoding {encoded:?} does not: {e}"),
    }
}

/// Messages as they travel (written out, so that seeds do not change with every new optional
/// field), and shapes a peer might try: another version, escapes, nulls, duplicate keys,
/// large numbers, deep nesting.
fn seed_messages() -> Vec<Seed> {
    [
        (
            "join",
            r#"{"v":1,"type":"join","room":"quiet-otter","display_name":"Alice"}"#,
        ),
        (
            "join-password-key",
            r#"{"v":1,"type":"join","room":"quiet-otter","display_name":"Bob \ud83d\ude00","password":"correct horse battery","moderator_key":"00112233445566778899aabbccddeeff"}"#,
        ),
        (
            "group-created",
            r#"{"v":1,"type":"group_created","group_info":"AAEAAwAAAAA="}"#,
        ),
        (
            "key-package",
            r#"{"v":1,"type":"key_package","key_package":"AAEABQAB"}"#,
        ),
        (
            "commit",
            r#"{"v":1,"type":"commit","epoch":7,"commit":"AAEAAQ==","welcome":"AAEAAw=="}"#,
        ),
        (
            "commit-null-welcome",
            r#"{"type":"commit","epoch":0,"commit":"","welcome":null,"v":1}"#,
        ),
        (
            "application",
            r#"{"v":1,"type":"application","message":"AAEAAg=="}"#,
        ),
        (
            "sdp-offer",
            r#"{"v":1,"type":"sdp_offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}"#,
        ),
        ("leave", r#"{"v":1,"type":"leave"}"#),
        (
            "set-password",
            r#"{"v":1,"type":"set_password","password":null}"#,
        ),
        ("kick", r#"{"v":1,"type":"kick","participant_id":"p-2"}"#),
        (
            "set-permissions",
            r#"{"v":1,"type":"set_permissions","permissions":{"screen_share":"moderators","chat":"everyone","files":"everyone","recording":"moderators"}}"#,
        ),
        (
            "joined",
            r#"{"v":1,"type":"joined","participant_id":"p-1","external_sender":"AAEAAg==","group":"create_group"}"#,
        ),
        (
            "server-commit",
            r#"{"v":1,"type":"commit","commit":"AAEAAQ==","epoch":18446744073709551615}"#,
        ),
        (
            "commit-rejected",
            r#"{"v":1,"type":"commit_rejected","epoch":3,"code":"wrong_epoch"}"#,
        ),
        (
            "commit-requested",
            r#"{"v":1,"type":"commit_requested","key_packages":["AAEABQ==",""]}"#,
        ),
        (
            "participants",
            r#"{"v":1,"type":"participants","participants":[{"id":"p-1","display_name":"Alice","role":"moderator","fingerprint":"0123 4567 89ab cdef 0123 4567 89ab cdef","muted":true},{"id":"p-2","display_name":"Bob"}]}"#,
        ),
        (
            "room-settings",
            r#"{"v":1,"type":"room_settings","locked":false,"password_required":true,"lobby":true}"#,
        ),
        (
            "error",
            r#"{"v":1,"type":"error","code":"rate_limited","message":"slow down","retry_after_ms":1500}"#,
        ),
        ("version-2", r#"{"v":2,"type":"leave"}"#),
        ("version-float", r#"{"v":1.0,"type":"leave"}"#),
        (
            "escaped",
            r#"{"v":1,"type":"join","room":"a\u002db","display_name":"\u0041\n"}"#,
        ),
        (
            "escaped-base64",
            r#"{"v":1,"type":"application","message":"AAEA\u0041g=="}"#,
        ),
        ("duplicate-type", r#"{"v":1,"type":"lock","type":"unlock"}"#),
        (
            "nested",
            r#"{"v":1,"type":"leave","x":[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]}"#,
        ),
    ]
    .into_iter()
    .map(|(name, text)| (name, text.as_bytes().to_vec()))
    .collect()
}
