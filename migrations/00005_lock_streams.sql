-- +goose Up
-- The two halves of an append that did not read the streams first.
--
-- lock_streams locks each stream's row (creating it empty when the stream must not exist
-- yet) and checks that the stream is at the version an append assumed, or fails the
-- whole transaction with SQLSTATE DF001. It is the expected-version check of an append
-- that did not read the streams first: the event store sends it, the COPY of the events,
-- the version update and the commit in one round trip. A stream that must not exist has
-- version -1 (no row, or the empty row a locking append leaves). The caller passes the
-- streams sorted, so row locks are taken in the same order by every writer.
-- +goose StatementBegin
CREATE FUNCTION lock_streams(stream_ids text[], versions bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    current bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(stream_ids, 1), 0) LOOP
        IF versions[i] < 0 THEN
            INSERT INTO streams (stream_id, version) VALUES (stream_ids[i], -1) ON CONFLICT DO NOTHING;
        END IF;
        SELECT version INTO current FROM streams WHERE stream_id = stream_ids[i] FOR UPDATE;
        IF current IS DISTINCT FROM versions[i] THEN
            RAISE EXCEPTION 'stream % is at version %, not %', stream_ids[i], coalesce(current, -1), versions[i]
                USING ERRCODE = 'DF001';
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- complete_append sets the streams' new versions after the COPY, announces the append
-- to listeners (projection runners) and returns the position of its last event: the
-- transaction id and the last value of the position sequence.
-- +goose StatementBegin
CREATE FUNCTION complete_append(stream_ids text[], versions bigint[], OUT transaction_id text, OUT last_position bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(stream_ids, 1), 0) LOOP
        UPDATE streams SET version = versions[i] WHERE stream_id = stream_ids[i];
    END LOOP;
    PERFORM pg_notify('devflow_events', '');
    transaction_id := pg_current_xact_id()::text;
    last_position := currval(pg_get_serial_sequence('events', 'position'));
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION complete_append(text[], bigint[]);
DROP FUNCTION lock_streams(text[], bigint[]);
