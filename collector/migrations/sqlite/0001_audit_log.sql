-- The audit log (SQLite). Append-only: the triggers below refuse UPDATE and DELETE, so a
-- record, a tree node or a checkpoint, once written, is never changed through SQL.

-- One row per accepted audit record, in log order. `leaf_index` is the record's position in
-- the Merkle tree (from 0); `canonical` is exactly the bytes the leaf hashes.
CREATE TABLE records (
    leaf_index INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    time_unix_nano INTEGER NOT NULL,
    received_unix_nano INTEGER NOT NULL,
    decision TEXT NOT NULL,
    subject TEXT,
    grant_id TEXT,
    model TEXT,
    canonical TEXT NOT NULL,
    leaf_hash BLOB NOT NULL,
    UNIQUE (stream_id, sequence)
);

-- Reviewers filter on these; every query pages in log order, hence leaf_index last.
CREATE INDEX records_by_time ON records (time_unix_nano, leaf_index);
CREATE INDEX records_by_subject ON records (subject, leaf_index);
CREATE INDEX records_by_grant ON records (grant_id, leaf_index);

-- Every complete subtree above the leaves (level >= 1), keyed by level << 48 | index.
-- Leaves live in records.leaf_hash.
CREATE TABLE merkle_nodes (
    node_key INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);

-- Every signed checkpoint, as signed.
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB NOT NULL,
    note TEXT NOT NULL,
    created_unix_nano INTEGER NOT NULL
);

CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER merkle_nodes_no_update BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER merkle_nodes_no_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
