-- +goose Up
-- Accounts and access. Credentials and working state are ordinary tables (state, not
-- history): the event log records that a user registered, a token was issued or
-- revoked, or a pairing moved on, but never a password, token, hash or OAuth secret.

-- Password users are identified by (provider 'password', normalised email), OAuth
-- users by (provider, provider user id); the unique pair makes concurrent
-- registrations of one email end in exactly one row.
CREATE TABLE users (
    id               uuid        PRIMARY KEY,
    username         text        NOT NULL,
    email            text,
    provider         text        NOT NULL CHECK (provider IN ('password', 'google', 'github')),
    provider_user_id text        NOT NULL,
    password_hash    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_unique UNIQUE (username),
    CONSTRAINT users_identity_unique UNIQUE (provider, provider_user_id)
);

-- API tokens (decision D22): only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    token_hash   text        NOT NULL CONSTRAINT api_tokens_hash_unique UNIQUE,
    token_prefix text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at DESC);

-- Pairing working state: the snapshot of each pairing aggregate, written in the same
-- transaction as its events, plus the transient token plaintext (erased on delivery or
-- expiry) and the last processed exchange (the shared rate limit, decision D18).
CREATE TABLE pairings (
    id               uuid        PRIMARY KEY,
    user_code        text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'approved', 'consumed')),
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    user_id          uuid,
    token_id         uuid,
    expiry_recorded  boolean     NOT NULL DEFAULT false,
    stream_version   bigint      NOT NULL,
    token_plaintext  text,
    last_exchange_at timestamptz
);
-- user codes are unique among pending pairings only.
CREATE UNIQUE INDEX pairings_pending_code ON pairings (user_code) WHERE status = 'pending';
CREATE INDEX pairings_code ON pairings (user_code, created_at DESC);
CREATE INDEX pairings_expiry ON pairings (expires_at);

-- OAuth states (decision D19): single use, valid 5 minutes, shared by all replicas.
CREATE TABLE oauth_states (
    state         text        PRIMARY KEY,
    provider      text        NOT NULL,
    client_type   text        NOT NULL,
    display       text,
    code_verifier text        NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX oauth_states_created ON oauth_states (created_at);

-- Failed password logins per normalised email (decision D20).
CREATE TABLE failed_logins (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text        NOT NULL,
    attempted_at timestamptz NOT NULL
);
CREATE INDEX failed_logins_email ON failed_logins (email, attempted_at DESC);
CREATE INDEX failed_logins_attempted ON failed_logins (attempted_at);

-- +goose Down
DROP TABLE failed_logins;
DROP TABLE oauth_states;
DROP TABLE pairings;
DROP TABLE api_tokens;
DROP TABLE users;
