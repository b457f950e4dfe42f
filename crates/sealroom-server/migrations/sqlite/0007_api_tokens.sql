-- Tokens for scripts and other systems calling the administration API (`Authorization: Bearer`).
-- Only a SHA-256 of each token is kept; it acts with its permissions, never more than its maker's.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL UNIQUE,
    -- The account that made it: removing the account revokes its tokens.
    created_by  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- JSON array of permission names (src/org_roles.rs).
    permissions TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL, -- Unix seconds
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
