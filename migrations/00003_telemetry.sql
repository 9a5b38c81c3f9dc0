-- +goose Up
-- Telemetry. The events themselves are in the event log; here are the quarantine of
-- invalid events (an ordinary table: they are not facts any read model folds) and the
-- read models of the metrics and sessions projections.

-- Invalid events set aside (decision D15). The id derives from the user and the
-- event's canonical content, so a resent invalid event is stored once. raw is bytea
-- because an invalid event may not even be storable text.
CREATE TABLE telemetry_quarantine (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    received_at timestamptz NOT NULL,
    event_index int         NOT NULL,
    raw         bytea       NOT NULL,
    errors      jsonb       NOT NULL
);
CREATE INDEX telemetry_quarantine_user ON telemetry_quarantine (user_id, received_at);

-- metrics projection: per user and UTC day (decision D10) ...
CREATE TABLE metrics_daily (
    user_id            uuid   NOT NULL,
    day                date   NOT NULL,
    lines_added        bigint NOT NULL DEFAULT 0,
    lines_deleted      bigint NOT NULL DEFAULT 0,
    switch_count       bigint NOT NULL DEFAULT 0,
    rapid_switch_count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
-- ... with exact per-file switch counts (top files are cut at query time).
CREATE TABLE metrics_daily_files (
    user_id      uuid   NOT NULL,
    day          date   NOT NULL,
    path         text   NOT NULL,
    switch_count bigint NOT NULL,
    PRIMARY KEY (user_id, day, path)
);
-- ... and per session (all of its events, whatever their day).
CREATE TABLE metrics_session (
    session_id         uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL,
    start_time         timestamptz,
    lines_added        bigint      NOT NULL DEFAULT 0,
    lines_deleted      bigint      NOT NULL DEFAULT 0,
    switch_count       bigint      NOT NULL DEFAULT 0,
    rapid_switch_count bigint      NOT NULL DEFAULT 0
);
CREATE INDEX metrics_session_user_start ON metrics_session (user_id, start_time);
CREATE TABLE metrics_session_files (
    session_id   uuid   NOT NULL,
    path         text   NOT NULL,
    switch_count bigint NOT NULL,
    PRIMARY KEY (session_id, path)
);
-- Projection state of line counting v2: the last known line count of each file in each
-- session (NULL: unknown, the last event had no file.lines).
CREATE TABLE metrics_file_lines (
    session_id uuid   NOT NULL,
    path       text   NOT NULL,
    lines      bigint,
    PRIMARY KEY (session_id, path)
);

-- sessions projection: each session's owner, start and latest event time ...
CREATE TABLE sessions (
    id            uuid        PRIMARY KEY,
    owner         uuid        NOT NULL,
    start_time    timestamptz NOT NULL,
    last_event_at timestamptz
);
CREATE INDEX sessions_owner_start ON sessions (owner, start_time DESC, id);
-- ... and each user's latest event time (the insight scheduler's activity window).
CREATE TABLE active_users (
    user_id       uuid        PRIMARY KEY,
    last_event_at timestamptz NOT NULL
);
CREATE INDEX active_users_last_event ON active_users (last_event_at);

-- +goose Down
DROP TABLE active_users;
DROP TABLE sessions;
DROP TABLE metrics_file_lines;
DROP TABLE metrics_session_files;
DROP TABLE metrics_session;
DROP TABLE metrics_daily_files;
DROP TABLE metrics_daily;
DROP TABLE telemetry_quarantine;
