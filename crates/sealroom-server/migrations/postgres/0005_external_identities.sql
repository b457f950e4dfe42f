-- Accounts made by an identity provider's sign-in (OpenID Connect): the provider's name (the
-- `[[oidc]]` slug) and its subject identifier name one account for good, whatever its
-- username. Such an account's password hash is unusable: it signs in only through the provider.
CREATE TABLE external_identities (
    provider    TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    account_id  BIGINT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  TEXT   NOT NULL
                DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    PRIMARY KEY (provider, subject)
);

-- Sessions opened by a provider's sign-in, with the ID token that ends them at the provider
-- (RP-initiated logout's `id_token_hint`). Gone with their session.
CREATE TABLE oidc_sessions (
    token_hash  BYTEA PRIMARY KEY REFERENCES sessions(token_hash) ON DELETE CASCADE,
    provider    TEXT  NOT NULL,
    id_token    TEXT  NOT NULL
);
