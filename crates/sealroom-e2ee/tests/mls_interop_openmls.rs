//! Cross-implementation interop: Sealroom's group session (mls-rs) and a member running openmls
//! share one MLS group, in both directions. Only serialized MLS wire bytes cross between the two
//! (TLS-serialized `MlsMessageOut` / `MlsMessageIn` on the openmls side), as they would through
//! the delivery service. Both sides must agree on the epoch, the epoch authenticator (hence the
//! security code) and the "SFrame 1.0 Secret" exporter value that media keys derive from.

use openmls::prelude::{self as om, OpenMlsProvider as _, tls_codec::DeserializeBytes};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, ExternalSenderKey, GroupError, GroupSession, Incoming,
    ObservedMessage, ProposalSender, ProposedChange, SecurityCode,
};

const CIPHERSUITE: om::Ciphersuite = om::Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// RFC 9605 §5.2: the SFrame epoch secret is `MLS-Exporter("SFrame 1.0 Secret", "", Nh)`; Nh is
/// 32 for the SHA-256 SFrame suites.
const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Secret";
const SFRAME_SECRET_LEN: usize = 32;

type StorageError = <OpenMlsRustCrypto as openmls::storage::OpenMlsProvider>::StorageError;

/// What an openmls member got out of a message.
#[derive(Debug)]
enum OpenMlsIncoming {
    Application {
        sender: u32,
        data: Vec<u8>,
    },
    Commit {
        self_removed: bool,
        removed: Vec<u32>,
    },
    Proposal,
}

/// A group member running openmls with its Rust-crypto provider and in-memory storage.
struct OpenMlsMember {
    name: String,
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: om::CredentialWithKey,
    group: Option<om::MlsGroup>,
}

impl OpenMlsMember {
    fn new(name: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let credential = om::CredentialWithKey {
            credential: om::BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Self {
            name: name.to_owned(),
            provider,
            signer,
            credential,
            group: None,
        }
    }

    fn join_config(policy: om::WireFormatPolicy) -> om::MlsGroupJoinConfig {
        om::MlsGroupJoinConfig::builder()
            .wire_format_policy(policy)
            .use_ratchet_tree_extension(true)
            .build()
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

    /// Creates a group, listing `external_sender` (the delivery service) if given.
    fn create_group(
        &mut self,
        policy: om::WireFormatPolicy,
        external_sender: Option<&ExternalSenderKey>,
    ) {
        let mut config = om::MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(policy)
            .use_ratchet_tree_extension(true);
        if let Some(key) = external_sender {
            // The key is a serialized MLS ExternalSender (signature key, credential).
            let sender = om::ExternalSender::tls_deserialize_exact_bytes(&key.0).unwrap();
            let extension = om::Extension::ExternalSenders(vec![sender]);
            config =
                config.with_group_context_extensions(om::Extensions::single(extension).unwrap());
        }
        let config = config.build();
        let group = om::MlsGroup::new(
            &self.provider,
            &self.signer,
            &config,
            self.credential.clone(),
        )
        .unwrap();
        self.group = Some(group);
    }

    /// Joins from a Welcome whose ratchet tree travels inside it (no tree out of band).
    fn join(&mut self, welcome: &[u8], policy: om::WireFormatPolicy) {
        let welcome = match decode(welcome).extract() {
            om::MlsMessageBodyIn::Welcome(welcome) => welcome,
            other => panic!("expected a Welcome, got {other:?}"),
        };
        let group = om::StagedWelcome::new_from_welcome(
            &self.provider,
            &Self::join_config(policy),
            welcome,
            None,
        )
        .unwrap()
        .into_group(&self.provider)
        .unwrap();
        self.group = Some(group);
    }

    fn group(&self) -> &om::MlsGroup {
        self.group.as_ref().expect("not in a group")
    }

    fn epoch(&self) -> u64 {
        self.group().epoch().as_u64()
    }

    fn own_leaf_index(&self) -> u32 {
        self.group().own_leaf_index().u32()
    }

    fn security_code(&self) -> SecurityCode {
        SecurityCode::from_epoch_authenticator(self.group().epoch_authenticator().as_slice())
    }

    fn sframe_secret(&self) -> Vec<u8> {
        self.group()
            .export_secret(
                self.provider.crypto(),
                SFRAME_EXPORTER_LABEL,
                &[],
                SFRAME_SECRET_LEN,
            )
            .unwrap()
    }

    /// (leaf index, credential name) of every member, in leaf order.
    fn roster(&self) -> Vec<(u32, String)> {
        self.group()
            .members()
            .map(|member| {
                let basic = om::BasicCredential::try_from(member.credential).unwrap();
                (
                    member.index.u32(),
                    String::from_utf8(basic.identity().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn encrypt(&mut self, data: &[u8]) -> Vec<u8> {
        let Self {
            provider,
            signer,
            group,
            ..
        } = self;
        let group = group.as_mut().unwrap();
        group
            .create_message(provider, signer, data)
            .unwrap()
            .to_bytes()
            .unwrap()
    }

    /// Processes a message; commits are merged at once and external proposals stored, as a
    /// client that accepts them would.
    fn process(&mut self, bytes: &[u8]) -> OpenMlsIncoming {
        self.try_process(bytes).unwrap()
    }

    fn try_process(
        &mut self,
        bytes: &[u8],
    ) -> Result<OpenMlsIncoming, om::ProcessMessageError<StorageError>> {
        let message = decode(bytes).try_into_protocol_message().unwrap();
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        let processed = group.process_message(provider, message)?;
        let sender = match processed.sender() {
            om::Sender::Member(index) => Some(index.u32()),
            _ => None,
        };
        Ok(match processed.into_content() {
            om::ProcessedMessageContent::ApplicationMessage(message) => {
                OpenMlsIncoming::Application {
                    sender: sender.expect("application message from a member"),
                    data: message.into_bytes(),
                }
            }
            om::ProcessedMessageContent::StagedCommitMessage(staged) => {
                let self_removed = staged.self_removed();
                let removed = staged
                    .remove_proposals()
                    .map(|p| p.remove_proposal().removed().u32())
                    .collect();
                group.merge_staged_commit(provider, *staged).unwrap();
                OpenMlsIncoming::Commit {
                    self_removed,
                    removed,
                }
            }
            om::ProcessedMessageContent::ProposalMessage(proposal) => {
                group
                    .store_pending_proposal(provider.storage(), *proposal)
                    .unwrap();
                OpenMlsIncoming::Proposal
            }
            other => panic!("unexpected content {other:?}"),
        })
    }

    /// Commits adding the devices behind serialized key packages; returns (commit, welcome).
    /// openmls' `add_members` always includes an update path.
    fn add(&mut self, key_packages: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let key_packages: Vec<om::KeyPackage> = key_packages
            .iter()
            .map(|bytes| match decode(bytes).extract() {
                om::MlsMessageBodyIn::KeyPackage(kp) => kp
                    .validate(self.provider.crypto(), om::ProtocolVersion::Mls10)
                    .unwrap(),
                other => panic!("expected a key package, got {other:?}"),
            })
            .collect();
        let Self {
            provider,
            signer,
            group,
            ..
        } = self;
        let (commit, welcome, _group_info) = group
            .as_mut()
            .unwrap()
            .add_members(provider, signer, &key_packages)
            .unwrap();
        (commit.to_bytes().unwrap(), welcome.to_bytes().unwrap())
    }

    fn self_update(&mut self) -> Vec<u8> {
        let Self {
            provider,
            signer,
            group,
            ..
        } = self;
        let bundle = group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, om::LeafNodeParameters::default())
            .unwrap();
        bundle.commit().to_bytes().unwrap()
    }

    fn remove(&mut self, leaf_index: u32) -> Vec<u8> {
        let Self {
            provider,
            signer,
            group,
            ..
        } = self;
        let (commit, welcome, _) = group
            .as_mut()
            .unwrap()
            .remove_members(provider, signer, &[om::LeafNodeIndex::new(leaf_index)])
            .unwrap();
        assert!(welcome.is_none());
        commit.to_bytes().unwrap()
    }

    fn commit_pending_proposals(&mut self) -> Vec<u8> {
        let Self {
            provider,
            signer,
            group,
            ..
        } = self;
        let (commit, _, _) = group
            .as_mut()
            .unwrap()
            .commit_to_pending_proposals(provider, signer)
            .unwrap();
        commit.to_bytes().unwrap()
    }

    fn merge_pending_commit(&mut self) {
        let provider = &self.provider;
        self.group
            .as_mut()
            .unwrap()
            .merge_pending_commit(provider)
            .unwrap();
    }
}

fn decode(bytes: &[u8]) -> om::MlsMessageIn {
    om::MlsMessageIn::tls_deserialize_exact_bytes(bytes).expect("well-formed MLS message")
}

fn sealroom_device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).unwrap())
}

fn sealroom_roster(session: &GroupSession) -> Vec<(u32, String)> {
    session
        .roster()
        .into_iter()
        .map(|m| (m.leaf_index, m.credential_name))
        .collect()
}

/// Every party is at the same epoch, shows the same security code, exports the same SFrame
/// secret and sees the same roster.
fn assert_in_sync(sealroom: &[&GroupSession], openmls: &[&OpenMlsMember]) {
    let reference = sealroom
        .first()
        .copied()
        .expect("at least one Sealroom member");
    let epoch = reference.epoch();
    let code = reference.security_code().unwrap();
    let secret = reference
        .export_secret(SFRAME_EXPORTER_LABEL.as_bytes(), SFRAME_SECRET_LEN)
        .unwrap();
    let roster = sealroom_roster(reference);
    assert_eq!(secret.len(), SFRAME_SECRET_LEN);
    for session in sealroom {
        assert_eq!(session.epoch(), epoch);
        assert_eq!(session.security_code().unwrap(), code);
        assert_eq!(
            *session
                .export_secret(SFRAME_EXPORTER_LABEL.as_bytes(), SFRAME_SECRET_LEN)
                .unwrap(),
            *secret
        );
        assert_eq!(sealroom_roster(session), roster);
    }
    for member in openmls {
        assert_eq!(member.epoch(), epoch, "{} epoch", member.name);
        assert_eq!(
            member.security_code(),
            code,
            "{} security code",
            member.name
        );
        assert_eq!(
            member.sframe_secret(),
            *secret,
            "{} SFrame secret",
            member.name
        );
        assert_eq!(member.roster(), roster, "{} roster", member.name);
    }
}

fn expect_commit(incoming: Incoming) -> sealroom_e2ee::EpochChange {
    match incoming {
        Incoming::Commit(change) => change,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[test]
fn openmls_member_joins_sealroom_group() {
    // Sealroom handshake messages are PublicMessages, which openmls' default policy (ciphertext
    // only) refuses; an openmls member of a Sealroom group must accept plaintext handshakes.
    let policy = om::MIXED_PLAINTEXT_WIRE_FORMAT_POLICY;
    let server = ExternalSender::new(DeviceIdentity::generate("delivery-service").unwrap());
    let alice_device = sealroom_device("alice");
    let mut alice = alice_device.create_group(&[server.key().unwrap()]).unwrap();
    let mut bob = OpenMlsMember::new("bob");

    // Alice (Sealroom) adds Bob (openmls); Bob joins from the Welcome alone.
    let add_bob = alice.commit(&[&bob.key_package()], &[]).unwrap();
    alice.merge_pending_commit().unwrap();
    bob.join(&add_bob.welcome.unwrap(), policy);
    assert_eq!(bob.epoch(), 1);
    assert_eq!(bob.own_leaf_index(), 1);
    assert_eq!(
        bob.roster(),
        vec![(0, "alice".to_owned()), (1, "bob".to_owned())]
    );
    assert_in_sync(&[&alice], &[&bob]);
    let mut observed = server.observe(&alice.group_info().unwrap()).unwrap();

    // Application messages both ways.
    let to_bob = alice
        .encrypt_application(b"", b"hello from mls-rs")
        .unwrap();
    match bob.process(&to_bob) {
        OpenMlsIncoming::Application { sender, data } => {
            assert_eq!(sender, 0);
            assert_eq!(data, b"hello from mls-rs");
        }
        other => panic!("expected application data, got {other:?}"),
    }
    let to_alice = bob.encrypt(b"hello from openmls");
    assert_eq!(
        alice.process(&to_alice).unwrap(),
        Incoming::Application {
            sender: 1,
            data: b"hello from openmls".to_vec(),
            authenticated_data: Vec::new(),
        }
    );

    // Bob (openmls) adds Carol (Sealroom). The delivery service checks the commit; Alice
    // processes it; Carol joins from openmls' Welcome.
    let carol_device = sealroom_device("carol");
    let (add_carol, welcome) = bob.add(&[&carol_device.key_package().unwrap()]);
    assert_eq!(
        observed.process(&add_carol).unwrap(),
        ObservedMessage::Commit { epoch: 2 }
    );
    let change = expect_commit(alice.process(&add_carol).unwrap());
    assert_eq!(change.epoch, 2);
    assert_eq!(change.committer, 1);
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.added[0].credential_name, "carol");
    assert_eq!(change.added[0].leaf_index, 2);
    bob.merge_pending_commit();
    let mut carol = carol_device.join_group(&welcome).unwrap();
    assert_eq!(carol.own_leaf_index(), 2);
    assert_in_sync(&[&alice, &carol], &[&bob]);

    // Bob commits a self-update; both Sealroom members follow.
    let update = bob.self_update();
    assert_eq!(
        observed.process(&update).unwrap(),
        ObservedMessage::Commit { epoch: 3 }
    );
    for session in [&mut alice, &mut carol] {
        let change = expect_commit(session.process(&update).unwrap());
        assert_eq!((change.epoch, change.committer), (3, 1));
        assert!(change.added.is_empty() && change.removed.is_empty());
    }
    bob.merge_pending_commit();
    assert_in_sync(&[&alice, &carol], &[&bob]);

    // Carol's application message reaches both implementations.
    let from_carol = carol.encrypt_application(b"", b"carol here").unwrap();
    assert!(matches!(
        bob.process(&from_carol),
        OpenMlsIncoming::Application { sender: 2, ref data } if data == b"carol here"
    ));
    assert_eq!(
        alice.process(&from_carol).unwrap(),
        Incoming::Application {
            sender: 2,
            data: b"carol here".to_vec(),
            authenticated_data: Vec::new(),
        }
    );

    // Alice (Sealroom) self-updates; Bob (openmls) processes it.
    let update = alice.commit(&[], &[]).unwrap();
    alice.merge_pending_commit().unwrap();
    carol.process(&update.commit).unwrap();
    assert!(matches!(
        bob.process(&update.commit),
        OpenMlsIncoming::Commit {
            self_removed: false,
            ..
        }
    ));
    observed.process(&update.commit).unwrap();
    assert_in_sync(&[&alice, &carol], &[&bob]);

    // The delivery service, as external sender, proposes Carol's removal; Bob (openmls) carries
    // it out and the Sealroom members accept the commit.
    let proposal = observed.propose_remove(2).unwrap();
    assert!(matches!(bob.process(&proposal), OpenMlsIncoming::Proposal));
    assert_eq!(
        alice.process(&proposal).unwrap(),
        Incoming::Proposal {
            sender: ProposalSender::ExternalSender(0),
            change: ProposedChange::Remove { leaf_index: 2 },
        }
    );
    carol.process(&proposal).unwrap();
    let remove_carol = bob.commit_pending_proposals();
    let change = expect_commit(alice.process(&remove_carol).unwrap());
    assert_eq!(change.removed.len(), 1);
    assert_eq!(change.removed[0].credential_name, "carol");
    let change = expect_commit(carol.process(&remove_carol).unwrap());
    assert!(change.removed_us);
    assert!(carol.is_removed());
    bob.merge_pending_commit();
    assert_in_sync(&[&alice], &[&bob]);

    // Alice (Sealroom) removes Bob (openmls); Bob sees that he is out.
    let remove_bob = alice.commit(&[], &[1]).unwrap();
    alice.merge_pending_commit().unwrap();
    match bob.process(&remove_bob.commit) {
        OpenMlsIncoming::Commit {
            self_removed,
            removed,
        } => {
            assert!(self_removed);
            assert_eq!(removed, vec![1]);
        }
        other => panic!("expected a commit, got {other:?}"),
    }
    assert!(!bob.group().is_active());
    assert_eq!(sealroom_roster(&alice), vec![(0, "alice".to_owned())]);
}

#[test]
fn sealroom_member_joins_openmls_group() {
    // openmls sends handshakes as PublicMessage (what Sealroom's delivery service needs to check
    // and order commits) and accepts Sealroom's PublicMessage commits.
    let policy = om::MIXED_PLAINTEXT_WIRE_FORMAT_POLICY;
    let mut alice = OpenMlsMember::new("alice");
    alice.create_group(policy, None);

    // Alice (openmls) adds Bob (Sealroom); Bob joins from the Welcome, tree inside.
    let bob_device = sealroom_device("bob");
    let (_commit, welcome) = alice.add(&[&bob_device.key_package().unwrap()]);
    alice.merge_pending_commit();
    let mut bob = bob_device.join_group(&welcome).unwrap();
    assert_eq!(bob.own_leaf_index(), 1);
    assert_eq!(
        sealroom_roster(&bob),
        vec![(0, "alice".to_owned()), (1, "bob".to_owned())]
    );
    assert_in_sync(&[&bob], &[&alice]);

    // Application messages both ways.
    let to_bob = alice.encrypt(b"hello from openmls");
    assert_eq!(
        bob.process(&to_bob).unwrap(),
        Incoming::Application {
            sender: 0,
            data: b"hello from openmls".to_vec(),
            authenticated_data: Vec::new(),
        }
    );
    let to_alice = bob.encrypt_application(b"", b"hello from mls-rs").unwrap();
    assert!(matches!(
        alice.process(&to_alice),
        OpenMlsIncoming::Application { sender: 1, ref data } if data == b"hello from mls-rs"
    ));

    // Alice (openmls) self-updates; Bob processes it.
    let update = alice.self_update();
    alice.merge_pending_commit();
    let change = expect_commit(bob.process(&update).unwrap());
    assert_eq!((change.epoch, change.committer), (2, 0));
    assert_in_sync(&[&bob], &[&alice]);

    // Bob (Sealroom) self-updates; Alice processes it.
    let update = bob.commit(&[], &[]).unwrap();
    bob.merge_pending_commit().unwrap();
    assert!(matches!(
        alice.process(&update.commit),
        OpenMlsIncoming::Commit {
            self_removed: false,
            ..
        }
    ));
    assert_in_sync(&[&bob], &[&alice]);

    // Bob (Sealroom) adds Carol (openmls); Carol joins from Sealroom's Welcome.
    let mut carol = OpenMlsMember::new("carol");
    let add_carol = bob.commit(&[&carol.key_package()], &[]).unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&add_carol.commit);
    carol.join(&add_carol.welcome.unwrap(), policy);
    assert_eq!(carol.own_leaf_index(), 2);
    assert_in_sync(&[&bob], &[&alice, &carol]);

    let from_carol = carol.encrypt(b"carol here");
    assert_eq!(
        bob.process(&from_carol).unwrap(),
        Incoming::Application {
            sender: 2,
            data: b"carol here".to_vec(),
            authenticated_data: Vec::new(),
        }
    );

    // Alice (openmls) removes Bob (Sealroom); Bob knows he is out and stops.
    let remove_bob = alice.remove(1);
    alice.merge_pending_commit();
    assert!(matches!(
        carol.process(&remove_bob),
        OpenMlsIncoming::Commit { self_removed: false, ref removed } if removed == &[1]
    ));
    let change = expect_commit(bob.process(&remove_bob).unwrap());
    assert!(change.removed_us);
    assert!(bob.is_removed());
    assert!(matches!(
        bob.encrypt_application(b"", b"late"),
        Err(GroupError::Removed)
    ));
    assert_eq!(alice.security_code(), carol.security_code());
    assert_eq!(alice.sframe_secret(), carol.sframe_secret());
}

/// An openmls creator that encrypts its handshakes (PrivateMessage) adds Bob (Sealroom); the
/// group lists `server` as its external sender.
fn openmls_group_with_private_handshakes(server: &ExternalSender) -> (OpenMlsMember, GroupSession) {
    let mut alice = OpenMlsMember::new("alice");
    alice.create_group(
        om::MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY,
        Some(&server.key().unwrap()),
    );
    let bob_device = sealroom_device("bob");
    let (_, welcome) = alice.add(&[&bob_device.key_package().unwrap()]);
    alice.merge_pending_commit();
    (alice, bob_device.join_group(&welcome).unwrap())
}

#[test]
fn sealroom_member_refuses_openmls_private_handshake_messages() {
    // Encrypted application messages still flow both ways, but an encrypted commit is refused
    // unopened (the delivery service could not have checked or ordered it): a Sealroom member
    // follows an openmls member only under the PublicMessage policy above.
    let server = ExternalSender::new(DeviceIdentity::generate("delivery-service").unwrap());
    let (mut alice, mut bob) = openmls_group_with_private_handshakes(&server);
    let to_bob = alice.encrypt(b"hello from openmls");
    assert!(matches!(
        bob.process(&to_bob).unwrap(),
        Incoming::Application { sender: 0, ref data, .. } if data == b"hello from openmls"
    ));
    let to_alice = bob.encrypt_application(b"", b"hello from mls-rs").unwrap();
    assert!(matches!(
        alice.process(&to_alice),
        OpenMlsIncoming::Application { sender: 1, ref data } if data == b"hello from mls-rs"
    ));

    let code = bob.security_code().unwrap();
    let update = alice.self_update();
    assert_eq!(
        decode(&update).wire_format(),
        om::WireFormat::PrivateMessage
    );
    assert!(matches!(
        bob.process(&update),
        Err(GroupError::EncryptedHandshake)
    ));
    assert_eq!(bob.epoch(), 1);
    assert_eq!(bob.security_code().unwrap(), code);
}

#[test]
fn delivery_service_refuses_private_openmls_commits() {
    // A commit sent as PrivateMessage is opaque to the delivery service: it can neither check
    // nor order it, so it refuses it, as a commit and as an application message to relay.
    let server = ExternalSender::new(DeviceIdentity::generate("delivery-service").unwrap());
    let (mut alice, bob) = openmls_group_with_private_handshakes(&server);
    let mut observed = server.observe(&bob.group_info().unwrap()).unwrap();

    let update = alice.self_update();
    assert!(matches!(
        observed.process(&update),
        Err(GroupError::EncryptedHandshake)
    ));
    assert!(matches!(
        observed.application_data(&update),
        Err(GroupError::EncryptedHandshake)
    ));
    assert_eq!(observed.epoch(), 1);
}

#[test]
fn openmls_default_policy_refuses_sealroom_public_commits() {
    // openmls' default wire-format policy accepts only PrivateMessage handshakes, so an openmls
    // member configured by default cannot follow a Sealroom group past its first commit.
    let alice_device = sealroom_device("alice");
    let mut alice = alice_device.create_group(&[]).unwrap();
    let mut bob = OpenMlsMember::new("bob");
    let add_bob = alice.commit(&[&bob.key_package()], &[]).unwrap();
    alice.merge_pending_commit().unwrap();
    bob.join(&add_bob.welcome.unwrap(), om::WireFormatPolicy::default());

    let update = alice.commit(&[], &[]).unwrap();
    alice.merge_pending_commit().unwrap();
    assert_eq!(
        decode(&update.commit).wire_format(),
        om::WireFormat::PublicMessage
    );
    assert!(matches!(
        bob.try_process(&update.commit),
        Err(om::ProcessMessageError::IncompatibleWireFormat)
    ));
    assert_eq!(bob.epoch(), 1);
}
