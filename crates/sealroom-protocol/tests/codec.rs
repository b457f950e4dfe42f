//! Encoding and strict decoding of signalling messages, including everything a peer can get
//! wrong.

use sealroom_protocol::{
    BreakoutTicket, Bytes, ChatMessage, ChatText, ClientMessage, DisplayName, ErrorCode,
    GroupAction, MAX_MESSAGE_BYTES, MAX_ROOM_NAME_BYTES, ProtocolError, RoomName, ServerMessage,
    decode, decode_numbered, encode, encode_numbered,
};

#[test]
fn messages_round_trip_with_version_and_type() {
    let message = ClientMessage::Commit {
        epoch: 7,
        commit: Bytes(vec![1, 2, 3]),
        welcome: None,
    };
    let text = encode(&message);
    assert!(text.contains(r#""v":1"#) && text.contains(r#""type":"commit""#));
    assert!(
        text.contains(r#""commit":"AQID""#),
        "bytes travel as base64: {text}"
    );
    assert_eq!(decode::<ClientMessage>(&text).unwrap(), message);

    let joined = ServerMessage::Joined {
        participant_id: "p1".into(),
        external_sender: Bytes(vec![9; 40]),
        group: GroupAction::AwaitWelcome,
    };
    assert_eq!(decode::<ServerMessage>(&encode(&joined)).unwrap(), joined);
}

#[test]
fn wrong_or_missing_version_is_unsupported() {
    for text in [
        r#"{"v":2,"type":"leave"}"#,
        r#"{"v":0,"type":"leave"}"#,
        r#"{"v":"1","type":"leave"}"#,
        r#"{"type":"leave"}"#,
    ] {
        let error = decode::<ClientMessage>(text).unwrap_err();
        assert_eq!(error.code(), ErrorCode::UnsupportedVersion, "{text}");
    }
    assert!(decode::<ClientMessage>(r#"{"v":1,"type":"leave"}"#).is_ok());
}

#[test]
fn garbage_unknown_types_and_bad_fields_are_malformed() {
    for text in [
        "",
        "not json",
        "[1,2]",
        r#"{"v":1}"#,
        r#"{"v":1,"type":"teleport"}"#,
        r#"{"v":1,"type":"commit","epoch":-1,"commit":"AA=="}"#,
        r#"{"v":1,"type":"commit","epoch":1,"commit":"!!not base64!!"}"#,
        r#"{"v":1,"type":"join","room":"r"}"#,
    ] {
        let error = decode::<ClientMessage>(text).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Malformed, "{text}");
    }
}

#[test]
fn oversized_message_is_refused_before_parsing() {
    let text = format!(
        r#"{{"v":1,"type":"sdp_offer","sdp":"{}"}}"#,
        "a".repeat(MAX_MESSAGE_BYTES)
    );
    assert!(matches!(
        decode::<ClientMessage>(&text),
        Err(ProtocolError::TooLarge(_))
    ));
}

#[test]
fn room_names_are_short_lowercase_words() {
    assert!(RoomName::parse("quiet-otter-42").is_some());
    assert!(RoomName::parse(&"a".repeat(MAX_ROOM_NAME_BYTES)).is_some());
    for bad in [
        "",
        "Upper",
        "with space",
        "../etc",
        "ünïcode",
        &"a".repeat(MAX_ROOM_NAME_BYTES + 1),
    ] {
        assert!(RoomName::parse(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn display_names_refuse_control_characters_and_emptiness() {
    assert_eq!(
        DisplayName::parse("Ada Lovelace").unwrap().as_str(),
        "Ada Lovelace"
    );
    assert!(DisplayName::parse("Zoë 🎥").is_some());
    for bad in ["", "   ", "new\nline", "bell\u{7}", &"x".repeat(65)] {
        assert!(DisplayName::parse(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn join_password_is_optional_and_older_messages_still_parse() {
    let old = r#"{"v":1,"type":"join","room":"r","display_name":"a"}"#;
    let join = decode::<ClientMessage>(old).unwrap();
    assert_eq!(
        join,
        ClientMessage::Join {
            room: "r".into(),
            display_name: "a".into(),
            password: None,
            moderator_key: None,
            holds_link: false,
            breakout_of: None,
        }
    );
    assert!(!encode(&join).contains("password"), "no password, no field");
    assert!(
        !encode(&join).contains("breakout_of"),
        "no ticket, no field"
    );
    let with = ClientMessage::Join {
        room: "r".into(),
        display_name: "a".into(),
        password: Some("correct horse".into()),
        moderator_key: Some("00112233445566778899aabbccddeeff".into()),
        holds_link: true,
        breakout_of: Some(BreakoutTicket {
            room: "main".into(),
            participant_id: "p1".into(),
            resume_token: "00ff".into(),
        }),
    };
    assert_eq!(decode::<ClientMessage>(&encode(&with)).unwrap(), with);
    let ticket = r#"{"v":1,"type":"join","room":"r","display_name":"a","breakout_of":{"room":"m","participant_id":"p","resume_token":"t","extra":1}}"#;
    assert!(
        decode::<ClientMessage>(ticket).is_err(),
        "a ticket has exactly its fields"
    );
}

#[test]
fn moderation_messages_round_trip() {
    use sealroom_protocol::{Allowed, ParticipantInfo, Permissions, RemovalReason, Role};

    let moderators_only_files = Permissions {
        files: Allowed::Moderators,
        ..Permissions::default()
    };

    for (message, tag) in [
        (
            ClientMessage::SetPassword {
                password: Some("a long passphrase".into()),
            },
            "set_password",
        ),
        (
            ClientMessage::SetPassword { password: None },
            "set_password",
        ),
        (ClientMessage::Lock, "lock"),
        (ClientMessage::Unlock, "unlock"),
        (
            ClientMessage::Kick {
                participant_id: "p2".into(),
            },
            "kick",
        ),
        (
            ClientMessage::Ban {
                participant_id: "p2".into(),
            },
            "ban",
        ),
        (
            ClientMessage::GrantModerator {
                participant_id: "p2".into(),
            },
            "grant_moderator",
        ),
        (ClientMessage::SetLobby { enabled: true }, "set_lobby"),
        (
            ClientMessage::Admit {
                participant_id: "p2".into(),
            },
            "admit",
        ),
        (
            ClientMessage::Deny {
                participant_id: "p2".into(),
            },
            "deny",
        ),
        (
            ClientMessage::Mute {
                participant_id: "p2".into(),
            },
            "mute",
        ),
        (ClientMessage::Unmute, "unmute"),
        (
            ClientMessage::SetPermissions {
                permissions: moderators_only_files,
            },
            "set_permissions",
        ),
        (ClientMessage::EndMeeting, "end_meeting"),
        (
            ClientMessage::SetWaitForModerator { enabled: true },
            "set_wait_for_moderator",
        ),
    ] {
        let text = encode(&message);
        assert!(text.contains(&format!(r#""type":"{tag}""#)), "{text}");
        assert_eq!(decode::<ClientMessage>(&text).unwrap(), message);
    }
    for message in [
        ServerMessage::RoomSettings {
            locked: true,
            password_required: false,
            lobby: true,
            permissions: moderators_only_files,
            wait_for_moderator: true,
        },
        ServerMessage::ModeratorKey {
            key: "00112233445566778899aabbccddeeff".into(),
        },
        ServerMessage::Removed {
            reason: RemovalReason::Banned,
        },
        ServerMessage::Removed {
            reason: RemovalReason::MeetingEnded,
        },
        ServerMessage::Lobby {
            waiting: vec![ParticipantInfo {
                id: "p3".into(),
                display_name: "carol".into(),
                role: Role::Guest,
                fingerprint: None,
                muted: false,
                account: None,
            }],
        },
        ServerMessage::Participants {
            participants: vec![ParticipantInfo {
                id: "p1".into(),
                display_name: "alice".into(),
                role: Role::Moderator,
                fingerprint: Some("d688 523a 9a07 8465 2cc8 3cab 5c7f 0322".into()),
                muted: true,
                account: Some("alice".into()),
            }],
        },
        ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: "too many join attempts".into(),
            retry_after_ms: Some(1500),
        },
    ] {
        assert_eq!(decode::<ServerMessage>(&encode(&message)).unwrap(), message);
    }
    let text = encode(&ServerMessage::Error {
        code: ErrorCode::Forbidden,
        message: "moderators only".into(),
        retry_after_ms: None,
    });
    assert!(text.contains(r#""code":"forbidden""#), "{text}");
    assert!(!text.contains("retry_after_ms"), "{text}");
    // A participant list from before roles: everyone is a participant.
    let old = r#"{"v":1,"type":"participants","participants":[{"id":"p1","display_name":"a"}]}"#;
    let ServerMessage::Participants { participants } = decode::<ServerMessage>(old).unwrap() else {
        panic!("a participant list");
    };
    assert_eq!(participants[0].role, Role::Participant);
}

#[test]
fn application_kind_labels_are_distinct_and_parse_back() {
    use sealroom_protocol::ApplicationKind;

    let kinds = [
        ApplicationKind::Control,
        ApplicationKind::Chat,
        ApplicationKind::File,
        ApplicationKind::Recording,
    ];
    for kind in kinds {
        assert_eq!(ApplicationKind::from_label(kind.label()), Some(kind));
    }
    assert_eq!(ApplicationKind::from_label(b""), None);
    assert_eq!(ApplicationKind::from_label(b"sealroom/chat\0"), None);
}

#[test]
fn numbered_messages_carry_their_seq_and_still_decode_without_it() {
    use sealroom_protocol::{decode_numbered, encode_numbered};

    let message = ServerMessage::Resumed {
        replayed: 3,
        last_client_seq: 7,
    };
    let text = encode_numbered(42, &message);
    assert!(text.contains(r#""seq":42"#), "{text}");
    assert_eq!(
        decode_numbered::<ServerMessage>(&text).unwrap(),
        (Some(42), message.clone())
    );
    assert_eq!(decode::<ServerMessage>(&text).unwrap(), message);
    assert_eq!(
        decode_numbered::<ServerMessage>(&encode(&message)).unwrap(),
        (None, message)
    );
    let resume = ClientMessage::Resume {
        participant_id: "p1".into(),
        resume_token: "00112233445566778899aabbccddeeff".into(),
        last_seq: 41,
    };
    assert_eq!(decode::<ClientMessage>(&encode(&resume)).unwrap(), resume);
    // A client numbers its own messages the same way.
    assert_eq!(
        decode_numbered::<ClientMessage>(&encode_numbered(8, &ClientMessage::Lock)).unwrap(),
        (Some(8), ClientMessage::Lock)
    );
    // From a server that does not say which client message it took: none.
    assert_eq!(
        decode::<ServerMessage>(r#"{"v":1,"type":"resumed","replayed":0}"#).unwrap(),
        ServerMessage::Resumed {
            replayed: 0,
            last_client_seq: 0
        }
    );
    // From a server without a file store: no blob token.
    assert_eq!(
        decode::<ServerMessage>(r#"{"v":1,"type":"resume_token","token":"ab"}"#).unwrap(),
        ServerMessage::ResumeToken {
            token: "ab".into(),
            blob_token: String::new()
        }
    );
}

/// An application message's number in the room and the envelope's number in the session are two
/// fields: a relayed message keeps both.
#[test]
fn a_relayed_application_message_keeps_its_room_number_apart_from_the_envelope() {
    let relayed = ServerMessage::Application {
        message: Bytes(vec![1, 2, 3]),
        number: 9,
    };
    let text = encode_numbered(5, &relayed);
    assert_eq!(decode_numbered(&text).unwrap(), (Some(5), relayed));
}

#[test]
fn chat_messages_round_trip_and_refuse_unknown_fields() {
    let text = ChatMessage::Text(ChatText {
        text: "<b>hi</b>".into(),
        sent_at: 1,
    });
    assert_eq!(decode::<ChatMessage>(&encode(&text)).unwrap(), text);
    let private = ChatMessage::Private {
        sealed: Bytes(vec![7; 40]),
    };
    assert_eq!(decode::<ChatMessage>(&encode(&private)).unwrap(), private);
    let extra = r#"{"v":1,"type":"text","text":"x","sent_at":1,"to":"bob"}"#;
    assert!(decode::<ChatMessage>(extra).is_err());
}
