//! Private (one-to-one) messages inside a group, against the members they are not for, a
//! removed member, and the server: each test plays the attacker and shows what it fails to get.

use mls_rs::{
    CipherSuiteProvider, Client, CryptoProvider, Extension, ExtensionList, MlsMessage,
    client_builder::MlsConfig,
    identity::{
        SigningIdentity,
        basic::{BasicCredential, BasicIdentityProvider},
    },
};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, GroupError, GroupSession, Incoming, ObservedGroup,
    Relayed, group::CIPHER_SUITE, private_message::PRIVATE_KEY_EXTENSION,
};

/// What the applications layer marks a chat message with (the server reads it).
const CHAT: &[u8] = b"sealroom/chat";
const SECRET: &[u8] = b"psst: the door code is 4711";

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("identity"))
}

/// Alice (leaf 0) creates a group listing `server` and adds `others` (leaves 1, 2...).
fn group_of(server: &ExternalSender, alice: &Device, others: &[&Device]) -> Vec<GroupSession> {
    let mut alice_session = alice.create_group(&[server.key().unwrap()]).unwrap();
    let key_packages: Vec<Vec<u8>> = others.iter().map(|d| d.key_package().unwrap()).collect();
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    let add = alice_session.commit(&refs, &[]).unwrap();
    alice_session.merge_pending_commit().unwrap();
    let welcome = add.welcome.unwrap();
    let mut sessions = vec![alice_session];
    sessions.extend(others.iter().map(|d| d.join_group(&welcome).unwrap()));
    sessions
}

/// Alice, Bob and Carol at leaves 0, 1 and 2, and the server following their group.
fn room() -> (Vec<GroupSession>, ObservedGroup) {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    let sessions = group_of(
        &server,
        &device("alice"),
        &[&device("bob"), &device("carol")],
    );
    let observed = server.observe(&sessions[0].group_info().unwrap()).unwrap();
    (sessions, observed)
}

/// `sender`'s private message to `recipient`, sent as an ordinary chat message: the bytes the
/// server relays.
fn send_private(sender: &mut GroupSession, recipient: u32, text: &[u8]) -> Vec<u8> {
    let sealed = sender.seal_private(recipient, text).unwrap();
    sender.encrypt_application(CHAT, &sealed).unwrap()
}

/// What a member's client gets from relayed chat bytes: the MLS sender and the data.
fn receive(session: &mut GroupSession, relayed: &[u8]) -> (u32, Vec<u8>) {
    match session
        .process_relayed(Relayed::Application, relayed)
        .unwrap()
    {
        Incoming::Application {
            sender,
            data,
            authenticated_data,
        } => {
            assert_eq!(authenticated_data, CHAT);
            (sender, data)
        }
        other => panic!("expected an application message, got {other:?}"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn refused(result: Result<Vec<u8>, GroupError>) -> bool {
    matches!(result, Err(GroupError::PrivateMessage(_)))
}

/// Commits `remove` and `add` from `sessions[committer]` and delivers it to every session but
/// those at `skip`; returns the Welcome.
fn commit_and_deliver(
    sessions: &mut [GroupSession],
    committer: usize,
    add: &[&[u8]],
    remove: &[u32],
    skip: &[usize],
) -> Option<Vec<u8>> {
    let outgoing = sessions[committer].commit(add, remove).unwrap();
    for (i, session) in sessions.iter_mut().enumerate() {
        if i == committer {
            session.merge_pending_commit().unwrap();
        } else if !skip.contains(&i) {
            session
                .process_relayed(Relayed::Commit, &outgoing.commit)
                .unwrap();
        }
    }
    outgoing.welcome
}

/// A plain mls-rs client (not Sealroom's) that may publish a private-message key extension of
/// its own making.
fn plain_client(name: &str) -> Client<impl MlsConfig> {
    let suite = RustCryptoProvider::default()
        .cipher_suite_provider(CIPHER_SUITE)
        .unwrap();
    let (secret, public) = suite.signature_key_generate().unwrap();
    let credential = BasicCredential::new(name.as_bytes().to_vec()).into_credential();
    Client::builder()
        .crypto_provider(RustCryptoProvider::default())
        .identity_provider(BasicIdentityProvider)
        .extension_type(PRIVATE_KEY_EXTENSION)
        .signing_identity(
            SigningIdentity::new(credential, public),
            secret,
            CIPHER_SUITE,
        )
        .build()
}

/// A key package of `client`'s whose leaf carries `leaf_extensions`.
fn key_package_with_leaf(
    client: &Client<impl MlsConfig>,
    leaf_extensions: ExtensionList,
) -> Vec<u8> {
    client
        .generate_key_package_message(ExtensionList::new(), leaf_extensions, None)
        .and_then(|message| message.to_bytes())
        .unwrap()
}

#[test]
fn a_member_who_decrypts_the_chat_message_cannot_read_a_private_message_to_another() {
    let (mut sessions, observed) = room();
    let relayed = send_private(&mut sessions[0], 1, SECRET);

    // The server sees a chat message pass, and nothing of its text.
    assert_eq!(observed.application_data(&relayed).unwrap(), CHAT);
    assert!(!contains(&relayed, SECRET));

    let (sender, sealed) = receive(&mut sessions[1], &relayed);
    assert_eq!(sender, 0);
    assert_eq!(sessions[1].open_private(sender, &sealed).unwrap(), SECRET);

    // Carol is a member: she decrypts the MLS layer, but the text is sealed to Bob's key.
    let (sender, sealed) = receive(&mut sessions[2], &relayed);
    assert_eq!(sender, 0);
    assert!(!contains(&sealed, SECRET));
    for claimed_sender in 0..3 {
        assert!(refused(sessions[2].open_private(claimed_sender, &sealed)));
    }
}

#[test]
fn a_member_passing_off_someone_elses_private_message_as_its_own_is_refused() {
    let (mut sessions, _observed) = room();
    let relayed = send_private(&mut sessions[0], 1, SECRET);
    let (_, sealed) = receive(&mut sessions[2], &relayed);
    receive(&mut sessions[1], &relayed);

    // Carol re-sends Alice's sealed bytes to Bob under her own name: MLS says she sent them,
    // and the seal says Alice did.
    let resent = sessions[2].encrypt_application(CHAT, &sealed).unwrap();
    let (sender, data) = receive(&mut sessions[1], &resent);
    assert_eq!(sender, 2);
    assert!(refused(sessions[1].open_private(sender, &data)));
}

#[test]
fn a_private_message_does_not_open_for_another_recipient_or_in_another_group() {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    let (alice, bob, carol) = (device("alice"), device("bob"), device("carol"));
    let sessions = group_of(&server, &alice, &[&bob, &carol]);

    // Alice's message to Carol, handed to Bob (by Carol, or as if Alice had sent it to him).
    let to_carol = sessions[0].seal_private(2, SECRET).unwrap();
    assert_eq!(sessions[2].open_private(0, &to_carol).unwrap(), SECRET);
    assert!(refused(sessions[1].open_private(0, &to_carol)));

    // The same devices at the same leaves in another meeting: a message replayed from the first
    // group does not open in the second, though the keys are the same.
    let mut other = group_of(&server, &alice, &[&bob]);
    assert_eq!(other[1].own_leaf_index(), 1);
    let to_bob = sessions[0].seal_private(1, SECRET).unwrap();
    assert_eq!(sessions[1].open_private(0, &to_bob).unwrap(), SECRET);
    assert!(refused(other[1].open_private(0, &to_bob)));
    let relayed = send_private(&mut other[0], 1, SECRET);
    let (sender, sealed) = receive(&mut other[1], &relayed);
    assert_eq!(other[1].open_private(sender, &sealed).unwrap(), SECRET);
}

#[test]
fn a_self_update_does_not_strip_a_members_private_message_key() {
    let (mut sessions, _observed) = room();
    // Bob, then Alice, rekey their paths; then an add moves everyone on again.
    commit_and_deliver(&mut sessions, 1, &[], &[], &[]);
    commit_and_deliver(&mut sessions, 0, &[], &[], &[]);
    let dave = device("dave");
    let welcome = commit_and_deliver(&mut sessions, 2, &[&dave.key_package().unwrap()], &[], &[]);
    sessions.push(dave.join_group(&welcome.unwrap()).unwrap());
    assert_eq!(sessions[0].epoch(), 4);

    for (from, to) in [(0, 1), (1, 0), (3, 1), (1, 3)] {
        let relayed = send_private(&mut sessions[from], to as u32, SECRET);
        for (i, session) in sessions.iter_mut().enumerate() {
            if i != from {
                let (sender, sealed) = receive(session, &relayed);
                let opened = session.open_private(sender, &sealed);
                assert_eq!(opened.ok().as_deref(), (i == to).then_some(SECRET));
            }
        }
    }
}

#[test]
fn a_removed_member_who_ignores_its_removal_cannot_open_what_is_sealed_to_its_old_leaf() {
    let (mut sessions, _observed) = room();
    // Alice removes Bob and adds Dave, who takes Bob's leaf. Bob never processes the commit:
    // his session still believes it is leaf 1 of this group.
    let dave = device("dave");
    let welcome = commit_and_deliver(
        &mut sessions,
        0,
        &[&dave.key_package().unwrap()],
        &[1],
        &[1],
    );
    let dave_session = dave.join_group(&welcome.unwrap()).unwrap();
    assert_eq!(dave_session.own_leaf_index(), 1);
    assert_eq!(sessions[1].own_leaf_index(), 1);

    // Same group, same sender, same leaf: only the key differs, and it is Dave's.
    let sealed = sessions[0].seal_private(1, SECRET).unwrap();
    assert_eq!(dave_session.open_private(0, &sealed).unwrap(), SECRET);
    assert!(refused(sessions[1].open_private(0, &sealed)));
}

#[test]
fn a_removed_member_can_neither_seal_nor_open() {
    let (mut sessions, _observed) = room();
    let sealed = sessions[0].seal_private(1, SECRET).unwrap();
    commit_and_deliver(&mut sessions, 0, &[], &[1], &[]);
    assert!(sessions[1].is_removed());
    assert!(matches!(
        sessions[1].open_private(0, &sealed),
        Err(GroupError::Removed)
    ));
    assert!(matches!(
        sessions[1].seal_private(2, SECRET),
        Err(GroupError::Removed)
    ));
}

#[test]
fn a_truncated_extended_or_altered_private_message_does_not_open() {
    let (sessions, _observed) = room();
    let sealed = sessions[0].seal_private(1, SECRET).unwrap();
    assert_eq!(sessions[1].open_private(0, &sealed).unwrap(), SECRET);
    for len in 0..sealed.len() {
        assert!(
            refused(sessions[1].open_private(0, &sealed[..len])),
            "{len}"
        );
    }
    for i in 0..sealed.len() {
        for bit in [0x01, 0x80] {
            let mut altered = sealed.clone();
            altered[i] ^= bit;
            assert!(refused(sessions[1].open_private(0, &altered)), "{i}");
        }
    }
    let extended = [&sealed[..], &[0]].concat();
    assert!(refused(sessions[1].open_private(0, &extended)));
    for garbage in [&[0xff; 64][..], &[0; 3], b"\x00\x00"] {
        assert!(refused(sessions[1].open_private(0, garbage)));
    }
}

#[test]
fn sealing_to_oneself_an_empty_leaf_or_no_leaf_is_refused() {
    let (mut sessions, _observed) = room();
    assert!(refused(sessions[0].seal_private(0, SECRET)));
    // Bob leaves: his leaf is blank while Carol's stays.
    commit_and_deliver(&mut sessions, 0, &[], &[1], &[1]);
    for leaf in [1, 3, 1000, u32::MAX] {
        assert!(sessions[0].seal_private(leaf, SECRET).is_err(), "{leaf}");
    }
    assert!(sessions[0].seal_private(2, SECRET).is_ok());
}

#[test]
fn a_member_without_a_well_formed_private_message_key_cannot_be_sealed_to() {
    let (mut sessions, _observed) = room();
    let key = |data: Vec<u8>| {
        let mut extensions = ExtensionList::new();
        extensions.set(Extension::new(PRIVATE_KEY_EXTENSION, data));
        extensions
    };
    let malformed = [
        ExtensionList::new(),
        key(Vec::new()),
        key(vec![1]),
        key([&[1][..], &[7; 31]].concat()),
        key([&[1][..], &[7; 33]].concat()),
        key([&[2][..], &[7; 32]].concat()),
    ];
    let count = malformed.len();
    let key_packages: Vec<Vec<u8>> = malformed
        .into_iter()
        .map(|leaf| key_package_with_leaf(&plain_client("mallory"), leaf))
        .collect();
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    commit_and_deliver(&mut sessions, 0, &refs, &[], &[]);
    assert_eq!(sessions[0].roster().len(), 3 + count);
    for leaf in 3..3 + count as u32 {
        assert!(refused(sessions[0].seal_private(leaf, SECRET)), "{leaf}");
    }
    // A well-formed key from the same kind of client is one Sealroom can seal to.
    let well_formed = key([&[1][..], &[7; 32]].concat());
    let key_package = key_package_with_leaf(&plain_client("mallory"), well_formed);
    commit_and_deliver(&mut sessions, 1, &[&key_package], &[], &[]);
    assert!(sessions[1].seal_private(3 + count as u32, SECRET).is_ok());
}

#[test]
fn a_member_publishing_another_members_key_cannot_redirect_private_messages_to_it() {
    let (mut sessions, _observed) = room();
    let mallory = plain_client("mallory");
    let key_package = key_package_with_leaf(&mallory, ExtensionList::new());
    let welcome = commit_and_deliver(&mut sessions, 0, &[&key_package], &[], &[]).unwrap();
    let (mut mallory_group, _) = mallory
        .join_group(None, &MlsMessage::from_bytes(&welcome).unwrap(), None)
        .unwrap();

    // Mallory copies Bob's key into her own leaf, signed by her, with a self-update.
    let bobs_key = mallory_group.member_at_index(1).unwrap().extensions;
    let commit = mallory_group
        .commit_builder()
        .set_leaf_node_extensions(bobs_key)
        .build()
        .unwrap()
        .commit_message
        .to_bytes()
        .unwrap();
    mallory_group.apply_pending_commit().unwrap();
    for session in &mut sessions {
        session.process_relayed(Relayed::Commit, &commit).unwrap();
    }

    // Alice's private message to Mallory is sealed to Bob's key, and Bob gets it like every
    // member: it does not open for him as if Alice had written it to him.
    let relayed = send_private(&mut sessions[0], 3, SECRET);
    let (sender, sealed) = receive(&mut sessions[1], &relayed);
    assert!(refused(sessions[1].open_private(sender, &sealed)));
}
