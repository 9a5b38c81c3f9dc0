-- +goose Up
-- File paths come from clients, and a btree index entry holds at most 2704 bytes: a
-- path a real editor sends (up to 4096 characters, more bytes in UTF-8) could not be
-- indexed, and one such event would stop the metrics projection. The read models keep
-- the path as sent and are keyed by its MD5 digest instead. MD5 is enough here: every
-- key is scoped to one user's day or session, so a crafted collision could only merge
-- two of the crafter's own files.
ALTER TABLE metrics_daily_files
    ADD COLUMN path_key bytea GENERATED ALWAYS AS (decode(md5(path), 'hex')) STORED,
    DROP CONSTRAINT metrics_daily_files_pkey,
    ADD PRIMARY KEY (user_id, day, path_key);
ALTER TABLE metrics_session_files
    ADD COLUMN path_key bytea GENERATED ALWAYS AS (decode(md5(path), 'hex')) STORED,
    DROP CONSTRAINT metrics_session_files_pkey,
    ADD PRIMARY KEY (session_id, path_key);
ALTER TABLE metrics_file_lines
    ADD COLUMN path_key bytea GENERATED ALWAYS AS (decode(md5(path), 'hex')) STORED,
    DROP CONSTRAINT metrics_file_lines_pkey,
    ADD PRIMARY KEY (session_id, path_key);

-- +goose Down
ALTER TABLE metrics_file_lines DROP CONSTRAINT metrics_file_lines_pkey, DROP COLUMN path_key, ADD PRIMARY KEY (session_id, path);
ALTER TABLE metrics_session_files DROP CONSTRAINT metrics_session_files_pkey, DROP COLUMN path_key, ADD PRIMARY KEY (session_id, path);
ALTER TABLE metrics_daily_files DROP CONSTRAINT metrics_daily_files_pkey, DROP COLUMN path_key, ADD PRIMARY KEY (user_id, day, path);
