-- +goose Up
-- Crypto-shredding (issue 16). Every event payload that carries a user's activity is
-- stored encrypted with that user's data key (AES-256-GCM); the keys live here, wrapped
-- (encrypted) by the master key from the configuration (DATA_KEY), never in the log.
-- Destroying a user's rows makes their events unreadable for good, wherever the log is
-- copied. master_key_id names the master key that wrapped the row (a key-check value:
-- start-up refuses a master key that is not the one the rows were wrapped with).
CREATE TABLE user_data_keys (
    user_id       uuid        NOT NULL,
    key_version   int         NOT NULL,
    wrapped_key   bytea       NOT NULL,
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key_version)
);
CREATE INDEX user_data_keys_master ON user_data_keys (master_key_id);

-- Users whose data was erased: no personal data, only the id, so that their JWTs stop
-- authenticating, no key is ever made for them again, and readers tell a destroyed key
-- (the event is erased) from a missing one (a fault).
CREATE TABLE erased_users (
    user_id   uuid        PRIMARY KEY,
    erased_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE erased_users;
DROP TABLE user_data_keys;
