-- +goose Up
-- Events a projection could not apply (a data error in the event, or a bug that only
-- this event reaches). The projection parks such an event here, in the transaction that
-- moves its checkpoint past it, and goes on with the next event, so one odd event never
-- stalls a read model for everybody. `devflow projections retry-parked` re-applies them
-- after a fix. Rebuilds and replays keep their own copy in their schema (the engine
-- writes through search_path), swapped in with the projection's tables.
CREATE TABLE parked_events (
    projection  text        NOT NULL,
    event_id    uuid        NOT NULL,
    commit_pos  bigint      NOT NULL,
    prepare_pos bigint      NOT NULL,
    event_type  text        NOT NULL,
    error       text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, event_id)
);

-- +goose Down
DROP TABLE parked_events;
