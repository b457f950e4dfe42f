-- Invitations to make an account: an owner or admin names the account and its role; whoever
-- holds the one-use link chooses the password. Only a SHA-256 of the link's token is kept; an
-- invitation goes when it is accepted or revoked, and is refused once it has expired.
CREATE TABLE invites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  BLOB    NOT NULL UNIQUE,
    username    TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    org_role    TEXT    NOT NULL CHECK (org_role IN ('owner', 'admin', 'auditor', 'member')),
    -- The account that invited: removing it withdraws its invitations.
    created_by  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL -- Unix seconds
);
