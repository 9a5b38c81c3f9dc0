-- +goose Up
-- Encrypted payloads (issue 16) in binary: the sealed form (key version, nonce,
-- ciphertext) in a bytea column beside data, instead of base64 inside a JSON wrapper in
-- data. Writing and reading a sealed payload then costs the cipher and a copy, not
-- base64 and JSON on both sides. A row whose payload is sealed keeps a constant
-- placeholder in data ({"enc":"sealed"}; data stays NOT NULL); readers go by sealed.
-- Adding a nullable column without a default rewrites nothing. Rows sealed in the JSON
-- form before this migration stay readable; `devflow eventlog encrypt` moves them here.
ALTER TABLE events ADD COLUMN sealed bytea;
-- Ciphertext does not compress: never try (values past the TOAST threshold go out of
-- line as they are).
ALTER TABLE events ALTER COLUMN sealed SET STORAGE EXTERNAL;

-- +goose Down
-- Refuses while any payload is sealed: dropping the column would lose it.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE sealed IS NOT NULL) THEN
        RAISE EXCEPTION 'events hold payloads in the sealed column; they would be lost';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE events DROP COLUMN sealed;
