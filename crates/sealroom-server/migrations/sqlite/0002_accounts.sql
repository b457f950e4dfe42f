-- Organisation accounts: who may sign in, and the sessions they hold.
CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Compared without case: "Alice" and "alice" are one account.
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    -- argon2id PHC string; never the password.
    password_hash  TEXT    NOT NULL,
    -- Base32 TOTP secret (RFC 6238), when the account has a second factor.
    totp_secret    TEXT,
    -- The last TOTP time step accepted: a code is good once.
    totp_last_step INTEGER,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Signed-in sessions. Only a SHA-256 of the token is kept: a copy of the database signs nobody in.
CREATE TABLE sessions (
    token_hash  BLOB    PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL -- Unix seconds
);
CREATE INDEX sessions_by_account ON sessions(account_id);
