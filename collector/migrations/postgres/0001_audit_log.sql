-- The audit log (PostgreSQL). Same tables and meaning as the SQLite schema; append-only
-- through the triggers below (TRUNCATE included).

CREATE TABLE records (
    leaf_index BIGINT PRIMARY KEY,
    stream_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    time_unix_nano BIGINT NOT NULL,
    received_unix_nano BIGINT NOT NULL,
    decision TEXT NOT NULL,
    subject TEXT,
    grant_id TEXT,
    model TEXT,
    canonical TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL,
    UNIQUE (stream_id, sequence)
);

CREATE INDEX records_by_time ON records (time_unix_nano, leaf_index);
CREATE INDEX records_by_subject ON records (subject, leaf_index);
CREATE INDEX records_by_grant ON records (grant_id, leaf_index);

CREATE TABLE merkle_nodes (
    node_key BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);

CREATE TABLE checkpoints (
    tree_size BIGINT PRIMARY KEY,
    root_hash BYTEA NOT NULL,
    note TEXT NOT NULL,
    created_unix_nano BIGINT NOT NULL
);

CREATE FUNCTION jitgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION jitgate_append_only();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION jitgate_append_only();
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION jitgate_append_only();
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION jitgate_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION jitgate_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION jitgate_append_only();
