-- Second factors (src/mfa.rs, src/passkeys.rs) and the organisation's MFA policy.

-- Who must have a second factor (src/mfa.rs `MfaPolicy`, as text). One row; none: `off`.
CREATE TABLE mfa_policy (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    policy  TEXT    NOT NULL
);

-- A session opened for an account the MFA policy covers that has no second factor yet: it may
-- enrol one and nothing else (no signalling, no administration).
ALTER TABLE sessions ADD COLUMN enrolment_only INTEGER NOT NULL DEFAULT 0;

-- A TOTP seed being enrolled, sealed like totp_secret, until a first code confirms it.
ALTER TABLE accounts ADD COLUMN totp_pending TEXT;

-- The account's WebAuthn user handle (16 random bytes), made with its first passkey.
ALTER TABLE accounts ADD COLUMN webauthn_user_id BLOB;
CREATE UNIQUE INDEX accounts_by_webauthn_user ON accounts(webauthn_user_id);

-- One-time recovery codes: 80 random bits each, kept only as SHA-256; used, a code is deleted.
CREATE TABLE recovery_codes (
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL,
    PRIMARY KEY (account_id, code_hash)
);

-- Passkeys (WebAuthn credentials): the public key and counter as webauthn-rs keeps them (JSON).
CREATE TABLE passkeys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    credential_id  BLOB    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    passkey        TEXT    NOT NULL,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at   TEXT
);
CREATE INDEX passkeys_by_account ON passkeys(account_id);
