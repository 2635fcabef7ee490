-- The guard (PostgreSQL): per-grant totals derived from the log, the firings they made and the
-- outbox that delivers them. Unlike the log these rows change: counters are incremented with
-- INSERT … ON CONFLICT DO UPDATE, outbox rows are marked delivered.

-- One counter per (scope, key, measure, window): scope `grant` or `subject`; window 0/0 for
-- the whole life, else its length and start in Unix seconds.
CREATE TABLE guard_counters (
    scope TEXT NOT NULL,
    counter_key TEXT NOT NULL,
    measure TEXT NOT NULL,
    window_seconds BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (scope, counter_key, measure, window_seconds, window_start)
);

-- Every client address each grant was used from.
CREATE TABLE guard_addresses (
    grant_id TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (grant_id, address)
);

-- How far into each log (named by its checkpoint key) the totals go: the next leaf index to
-- apply. Moved in the same transaction as the counters, so no record counts twice or never.
CREATE TABLE guard_cursors (
    log_id TEXT PRIMARY KEY,
    next_leaf BIGINT NOT NULL
);

-- Each guard stream's last sequence number.
CREATE TABLE guard_streams (
    stream_id TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);

-- Each firing once; `record` is the guard record's canonical JSON as it goes into the log.
CREATE TABLE guard_firings (
    firing_id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    log_id TEXT NOT NULL,
    stream_id TEXT,
    sequence BIGINT,
    record TEXT,
    created_unix_nano BIGINT NOT NULL
);

-- What each firing still has to do: `log` (append its record), then `alert` and `revoke`.
CREATE TABLE guard_outbox (
    firing_id TEXT NOT NULL,
    step TEXT NOT NULL,
    step_order BIGINT NOT NULL,
    log_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_unix_nano BIGINT NOT NULL,
    done_unix_nano BIGINT,
    outcome TEXT,
    PRIMARY KEY (firing_id, step)
);

CREATE INDEX guard_outbox_due ON guard_outbox (log_id, done_unix_nano, next_attempt_unix_nano);
