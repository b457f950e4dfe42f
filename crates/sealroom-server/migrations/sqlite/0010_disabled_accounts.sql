-- An account an administrator disabled: it signs in no way (password, passkey, identity
-- provider, directory), its sessions were ended, and its API tokens do nothing, until enabled.
ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
