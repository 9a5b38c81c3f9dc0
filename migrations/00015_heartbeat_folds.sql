-- +goose Up
-- Heartbeats projection v2 (issue 15): durations are folded gap by gap, not recomputed
-- per day. Whole microseconds add up to the same sum in any order, so a day folded in
-- any batches equals the day recomputed.
ALTER TABLE heartbeat_durations RENAME COLUMN seconds TO micros;
ALTER TABLE heartbeat_durations ALTER COLUMN micros TYPE bigint USING round(micros * 1e6)::bigint;

-- Projection state: each user's last heartbeat in (time, id) order, with the values its
-- next gap counts for, and the activity points stored in that heartbeat's 2-minute
-- sampling window (a later event of the window is a duplicate of its point).
CREATE TABLE heartbeat_folds (
    user_id    uuid        PRIMARY KEY,
    time       timestamptz NOT NULL,
    id         uuid        NOT NULL,
    entity     text        NOT NULL,
    category   text        NOT NULL,
    project    text        NOT NULL,
    branch     text        NOT NULL,
    language   text        NOT NULL,
    editor     text        NOT NULL,
    os         text        NOT NULL,
    machine    text        NOT NULL,
    window_ids uuid[]      NOT NULL
);

-- +goose Down
DROP TABLE heartbeat_folds;
ALTER TABLE heartbeat_durations ALTER COLUMN micros TYPE double precision USING micros / 1e6;
ALTER TABLE heartbeat_durations RENAME COLUMN micros TO seconds;
