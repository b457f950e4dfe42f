//! The security code against a server that splits the group: members in different forks must
//! see different codes, in the format the screens show.

use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, GroupSession, Incoming, SecurityCode,
    security_code::{DIGIT_GROUPS, WORD_COUNT},
};

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("identity"))
}

/// Alice, Bob and Carol in a group that lists `server` as external sender.
fn room(server: &ExternalSender) -> Vec<GroupSession> {
    let devices: Vec<Device> = ["alice", "bob", "carol"].map(device).into();
    let mut alice = devices[0].create_group(&[server.key().unwrap()]).unwrap();
    let key_packages: Vec<Vec<u8>> = devices[1..]
        .iter()
        .map(|d| d.key_package().unwrap())
        .collect();
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    let welcome = alice.commit(&refs, &[]).unwrap().welcome.unwrap();
    alice.merge_pending_commit().unwrap();
    let joined = devices[1..].iter().map(|d| d.join_group(&welcome).unwrap());
    std::iter::once(alice).chain(joined).collect()
}

/// What a screen shows: eight groups of five digits, twelve BIP-39 words.
fn assert_displayable(code: &SecurityCode) {
    let digits = code.digits();
    let groups: Vec<&str> = digits.split(' ').collect();
    assert_eq!(groups.len(), DIGIT_GROUPS, "{digits}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())),
        "{digits}"
    );
    let word_list = bip39::Language::English.word_list();
    let words = code.words();
    assert_eq!(words.len(), WORD_COUNT);
    assert!(words.iter().all(|w| word_list.contains(w)), "{words:?}");
}

#[test]
fn split_view_shows_each_fork_a_different_code() {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    let mut sessions = room(&server);
    let before = sessions[0].security_code().unwrap();

    // Alice adds Dave and Bob updates his keys, both on the same epoch. A malicious server
    // accepts both: Alice and Carol go on with Alice's commit, Bob with his own.
    let dave = device("dave");
    let alice_commit = sessions[0]
        .commit(&[&dave.key_package().unwrap()], &[])
        .unwrap();
    sessions[1].commit(&[], &[]).unwrap();
    sessions[0].merge_pending_commit().unwrap();
    sessions[1].merge_pending_commit().unwrap();
    assert!(matches!(
        sessions[2].process(&alice_commit.commit).unwrap(),
        Incoming::Commit(_)
    ));
    let dave_session = dave
        .join_group(alice_commit.welcome.as_ref().unwrap())
        .unwrap();

    let fork_a = [&sessions[0], &sessions[2], &dave_session];
    let fork_b = &sessions[1];
    let code_a = fork_a[0].security_code().unwrap();
    let code_b = fork_b.security_code().unwrap();
    for session in fork_a {
        assert_eq!(
            session.epoch(),
            fork_b.epoch(),
            "the forks share an epoch number"
        );
        assert_eq!(session.security_code().unwrap(), code_a);
    }
    for code in [&before, &code_a, &code_b] {
        assert_displayable(code);
    }
    assert_ne!(code_a.digits(), code_b.digits());
    assert_ne!(code_a.words(), code_b.words());
    assert_ne!(code_a, before);
    assert_ne!(code_b, before);
}
