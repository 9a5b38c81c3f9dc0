-- +goose Up
-- advance_streams moves each stream from the version it must be at to its new version,
-- or fails the whole transaction with SQLSTATE DF001 when one is elsewhere. It is the
-- expected-version check of an append that was not preceded by a read of the streams:
-- the event store sends it, the COPY of the events and the commit in one round trip.
-- A stream that must not exist yet has from = -1 (no row, or the empty row a locking
-- append leaves). The caller passes the streams sorted, so row locks are taken in the
-- same order by every writer.
-- +goose StatementBegin
CREATE FUNCTION advance_streams(stream_ids text[], from_versions bigint[], to_versions bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(stream_ids, 1), 0) LOOP
        IF from_versions[i] < 0 THEN
            INSERT INTO streams AS s (stream_id, version) VALUES (stream_ids[i], to_versions[i])
            ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version WHERE s.version < 0;
        ELSE
            UPDATE streams SET version = to_versions[i]
            WHERE stream_id = stream_ids[i] AND version = from_versions[i];
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stream % is not at version %', stream_ids[i], from_versions[i]
                USING ERRCODE = 'DF001';
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION advance_streams(text[], bigint[], bigint[]);
