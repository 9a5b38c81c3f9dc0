-- +goose Up
-- The event log. position comes from a sequence, but a reader orders by (txid, position)
-- and reads only rows whose transaction is older than every transaction still running
-- (pg_snapshot_xmin), so an event that commits late can never be skipped.
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY,
    txid           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL,
    event_type     text        NOT NULL,
    schema_version int         NOT NULL,
    data           json        NOT NULL,
    metadata       json        NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (position)
);
CREATE UNIQUE INDEX events_event_id ON events (event_id);
CREATE UNIQUE INDEX events_stream ON events (stream_id, stream_version);
CREATE INDEX events_log_order ON events (txid, position);

-- One row per stream: its last revision. Appends lock the row, which serialises writers
-- of one stream and makes the expected-version check exact.
CREATE TABLE streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL
);

-- Projection checkpoints: where each projection has got to in the log, and how many log
-- events that is (the ordinal reported as an ETL watermark).
CREATE TABLE projection_checkpoints (
    name          text        PRIMARY KEY,
    version       int         NOT NULL,
    commit_pos    bigint      NOT NULL DEFAULT 0,
    prepare_pos   bigint      NOT NULL DEFAULT 0,
    ordinal       bigint      NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    error         text
);

-- +goose Down
DROP TABLE projection_checkpoints;
DROP TABLE streams;
DROP TABLE events;
