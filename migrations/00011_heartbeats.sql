-- +goose Up
-- WakaTime-compatible heartbeats (issue 15). The heartbeats themselves are
-- HeartbeatRecorded events in the log; here are the user's chosen time zone (state, like
-- the rest of the users row; the choice is also a TimeZoneChanged event) and the read
-- models of the heartbeats projection.
ALTER TABLE users ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

-- Each user's heartbeats, the fields the reads and the duration recomputation need.
CREATE TABLE heartbeats (
    user_id        uuid        NOT NULL,
    time           timestamptz NOT NULL,
    id             uuid        NOT NULL,
    entity         text        NOT NULL,
    type           text        NOT NULL,
    category       text        NOT NULL,
    project        text        NOT NULL,
    branch         text        NOT NULL,
    language       text        NOT NULL,
    is_write       boolean     NOT NULL,
    lines          bigint      NOT NULL,
    line_additions bigint      NOT NULL,
    line_deletions bigint      NOT NULL,
    user_agent     text        NOT NULL,
    editor         text        NOT NULL,
    os             text        NOT NULL,
    machine        text        NOT NULL,
    PRIMARY KEY (user_id, time, id)
);

-- Coding seconds per user, local day (in the user's zone when the day was folded),
-- dimension ('total', 'project', 'language', ...) and value: statusbar/today is one
-- primary-key range read.
CREATE TABLE heartbeat_durations (
    user_id   uuid             NOT NULL,
    day       date             NOT NULL,
    dimension text             NOT NULL,
    value     text             NOT NULL,
    seconds   double precision NOT NULL,
    PRIMARY KEY (user_id, day, dimension, value)
);

-- Projection state: each user's time zone as the log says (TimeZoneChanged).
CREATE TABLE heartbeat_zones (
    user_id   uuid PRIMARY KEY,
    time_zone text NOT NULL
);

-- metrics projection state: each user's last file heartbeat (an entity change between
-- two file heartbeats is an editor switch).
CREATE TABLE metrics_heartbeat_entities (
    user_id uuid PRIMARY KEY,
    entity  text NOT NULL
);

-- +goose Down
DROP TABLE metrics_heartbeat_entities;
DROP TABLE heartbeat_zones;
DROP TABLE heartbeat_durations;
DROP TABLE heartbeats;
ALTER TABLE users DROP COLUMN time_zone;
