//! `Group`: one participant's MLS group session, and the plain objects it returns.

use sealroom_e2ee::{
    EpochChange, GroupSession, Incoming, ProposalSender, ProposedChange, RosterMember,
    sframe::CipherSuite,
};
use wasm_bindgen::{JsCast, prelude::*};

use crate::{
    error::{INVALID_ARGUMENT, group_error, js_error},
    js_object::{JsObject, array, bytes},
};

/// The SFrame suite browsers use: AES_128_GCM_SHA256_128 (0x0004).
pub(crate) const MEDIA_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A member of the group as the MLS ratchet tree says (not as the server says). `orgIdentity`:
 *  the account the pinned organisation key vouches for in the member's leaf, the only account
 *  to show ("verified by your organisation"); `orgBinding`: `none`, `verified`, or why a
 *  binding in the leaf was refused (`malformed`, `no_organisation_key`, `bad_signature`,
 *  `other_device`, `expired`): warn. */
export type RosterMember = { leaf: number, name: string, fingerprint: string, orgIdentity: string | null, orgBinding: string };
/** How the group changed when a commit was applied. `removedUs`: the session is over. */
export type EpochChange = { epoch: bigint, committer: number, added: RosterMember[], removed: RosterMember[], removedUs: boolean };
/**
 * What processing a relayed MLS message produced. For proposals, `name` is the credential name of
 * an `add`, `leaf` the leaf an `remove` removes, and `senderIndex` the proposing member's leaf (for
 * `member`) or the external sender's index (for `external`). For application messages,
 * `authenticatedData` is the sender's kind label (`sealroom/chat`, …), authenticated by MLS.
 */
export type Incoming =
  | { kind: 'commit', change: EpochChange }
  | { kind: 'proposal', sender: 'member' | 'external' | 'new_member', change: 'add' | 'remove' | 'other', name?: string, leaf?: number, senderIndex?: number }
  | { kind: 'application', sender: number, data: Uint8Array, authenticatedData: Uint8Array };
/** A commit for the delivery service, the Welcome for the members it adds, and its epoch. */
export type OutgoingCommit = { commit: Uint8Array, welcome?: Uint8Array, epoch: bigint };
/** The security code of an epoch: equal on every member's screen exactly when they share state. */
export type SecurityCode = { digits: string, words: string[] };
/** A frame `Keyring.unprotect` authenticated and decrypted. */
export type UnprotectedFrame = { senderIndex: number, epoch: bigint, payload: Uint8Array, clearPrefixLen: number };
"#;

/// One participant's view of an MLS group.
#[wasm_bindgen]
pub struct Group {
    session: GroupSession,
}

impl Group {
    pub(crate) fn new(session: GroupSession) -> Self {
        Self { session }
    }
}

#[wasm_bindgen]
impl Group {
    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.session.epoch()
    }

    /// Our own leaf index: our SFrame sender index.
    #[wasm_bindgen(js_name = ownLeafIndex)]
    pub fn own_leaf_index(&self) -> u32 {
        self.session.own_leaf_index()
    }

    /// Whether a commit removed us; every further operation then throws `removed:`.
    #[wasm_bindgen(js_name = isRemoved)]
    pub fn is_removed(&self) -> bool {
        self.session.is_removed()
    }

    /// Whether a commit of ours awaits the delivery service's answer.
    #[wasm_bindgen(js_name = hasPendingCommit)]
    pub fn has_pending_commit(&self) -> bool {
        self.session.has_pending_commit()
    }

    /// A group info with the ratchet tree, for the delivery service to observe the group's public
    /// state. Holds no secrets.
    #[wasm_bindgen(js_name = groupInfo)]
    pub fn group_info(&self) -> Result<Vec<u8>, JsValue> {
        self.session.group_info().map_err(group_error)
    }

    /// Commits adding the devices behind `keyPackages` and any stored proposals the rules allow
    /// (the server's removal proposals), always with an update path: an empty array is a
    /// self-update. The commit stays pending until `mergePendingCommit` (the delivery service
    /// accepted it) or `discardPendingCommit` (another commit won the epoch).
    #[wasm_bindgen(unchecked_return_type = "OutgoingCommit")]
    pub fn commit(
        &mut self,
        #[wasm_bindgen(js_name = keyPackages, unchecked_param_type = "Uint8Array[]")]
        key_packages: Vec<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let key_packages = key_packages
            .into_iter()
            .map(|value| {
                value
                    .dyn_into::<js_sys::Uint8Array>()
                    .map(|array| array.to_vec())
                    .map_err(|_| js_error(INVALID_ARGUMENT, "key packages must be Uint8Arrays"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
        let outgoing = self.session.commit(&refs, &[]).map_err(group_error)?;
        Ok(JsObject::new()
            .with("commit", bytes(&outgoing.commit))
            .with_some("welcome", outgoing.welcome.as_deref().map(bytes))
            .with("epoch", outgoing.epoch)
            .build())
    }

    /// Applies our pending commit once the delivery service has accepted it.
    #[wasm_bindgen(js_name = mergePendingCommit, unchecked_return_type = "EpochChange")]
    pub fn merge_pending_commit(&mut self) -> Result<JsValue, JsValue> {
        let change = self.session.merge_pending_commit().map_err(group_error)?;
        Ok(epoch_change(&change))
    }

    /// Drops our pending commit because another one won the epoch.
    #[wasm_bindgen(js_name = discardPendingCommit)]
    pub fn discard_pending_commit(&mut self) -> Result<(), JsValue> {
        self.session.discard_pending_commit().map_err(group_error)
    }

    /// Processes a commit, proposal or application message relayed by the delivery service.
    #[wasm_bindgen(unchecked_return_type = "Incoming")]
    pub fn process(&mut self, message: &[u8]) -> Result<JsValue, JsValue> {
        let incoming = self.session.process(message).map_err(group_error)?;
        Ok(match incoming {
            Incoming::Commit(change) => JsObject::new()
                .with("kind", "commit")
                .with("change", epoch_change(&change))
                .build(),
            Incoming::Proposal { sender, change } => {
                let (sender, sender_index) = match sender {
                    ProposalSender::Member(leaf) => ("member", Some(leaf)),
                    ProposalSender::ExternalSender(index) => ("external", Some(index)),
                    ProposalSender::NewMember => ("new_member", None),
                };
                let proposal = JsObject::new()
                    .with("kind", "proposal")
                    .with("sender", sender)
                    .with_some("senderIndex", sender_index);
                match change {
                    ProposedChange::Add { credential_name } => {
                        proposal.with("change", "add").with("name", credential_name)
                    }
                    ProposedChange::Remove { leaf_index } => {
                        proposal.with("change", "remove").with("leaf", leaf_index)
                    }
                    ProposedChange::Other => proposal.with("change", "other"),
                }
                .build()
            }
            Incoming::Application {
                sender,
                data,
                authenticated_data,
            } => JsObject::new()
                .with("kind", "application")
                .with("sender", sender)
                .with("data", bytes(&data))
                .with("authenticatedData", bytes(&authenticated_data))
                .build(),
        })
    }

    /// Encrypts application data (chat, file keys…) for the current members, with
    /// `authenticatedData` (the message's kind label) in the clear but authenticated.
    #[wasm_bindgen(js_name = encryptApplication)]
    pub fn encrypt_application(
        &mut self,
        #[wasm_bindgen(js_name = authenticatedData)] authenticated_data: &[u8],
        data: &[u8],
    ) -> Result<Vec<u8>, JsValue> {
        self.session
            .encrypt_application(authenticated_data, data)
            .map_err(group_error)
    }

    /// The members, in leaf order, from the MLS tree.
    #[wasm_bindgen(unchecked_return_type = "RosterMember[]")]
    pub fn roster(&self) -> JsValue {
        array(self.session.roster().iter().map(roster_member)).into()
    }

    /// This epoch's security code.
    #[wasm_bindgen(js_name = securityCode, unchecked_return_type = "SecurityCode")]
    pub fn security_code(&self) -> Result<JsValue, JsValue> {
        let code = self.session.security_code().map_err(group_error)?;
        Ok(JsObject::new()
            .with("digits", code.digits())
            .with(
                "words",
                array(code.words().iter().map(|word| JsValue::from_str(word))),
            )
            .build())
    }

    /// This epoch's SFrame base key (MLS exporter "SFrame 1.0 Base Key", suite
    /// AES_128_GCM_SHA256_128), for `Keyring.installEpoch` in the worker. Hand it to the worker
    /// and drop it; never log or store it.
    #[wasm_bindgen(js_name = sframeBaseKey)]
    pub fn sframe_base_key(&self) -> Result<js_sys::Uint8Array, JsValue> {
        // Copied straight into a JS array so the wasm-side copy is zeroized when dropped.
        let secret = self
            .session
            .sframe_epoch_secret(MEDIA_SUITE)
            .map_err(group_error)?;
        Ok(bytes(&secret))
    }
}

pub(crate) fn roster_member(member: &RosterMember) -> JsValue {
    JsObject::new()
        .with("leaf", member.leaf_index)
        .with("name", member.credential_name.as_str())
        .with("fingerprint", member.fingerprint.to_string())
        .with(
            "orgIdentity",
            member
                .org_identity
                .account()
                .map_or(JsValue::NULL, JsValue::from),
        )
        .with("orgBinding", member.org_identity.code())
        .build()
}

pub(crate) fn epoch_change(change: &EpochChange) -> JsValue {
    JsObject::new()
        .with("epoch", change.epoch)
        .with("committer", change.committer)
        .with("added", array(change.added.iter().map(roster_member)))
        .with("removed", array(change.removed.iter().map(roster_member)))
        .with("removedUs", change.removed_us)
        .build()
}
