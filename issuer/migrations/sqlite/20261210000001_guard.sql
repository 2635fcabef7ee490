-- The guard (issue 14): how each history step reached the issuer, the guard's alerts as
-- history entries, the alerts themselves, and the grants' usage as the guard reports it.

-- channel: api | web | guard | issuer (NULL for steps recorded before channels were).
-- event: transition (a change of state) | alert (from = to: the state it was in).
ALTER TABLE transitions ADD COLUMN channel TEXT;
ALTER TABLE transitions ADD COLUMN event TEXT NOT NULL DEFAULT 'transition';
ALTER TABLE transitions ADD COLUMN firing_id TEXT;

-- One row per firing (POST /v1/alerts is idempotent on firing_id). Times in nanoseconds
-- (fired_at, as the guard sent it) and seconds (received_at, the issuer's clock).
CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    firing_id      TEXT NOT NULL UNIQUE,
    grant_id       TEXT NOT NULL REFERENCES access_requests (id),
    subject        TEXT,
    rule           TEXT NOT NULL,
    action         TEXT NOT NULL,
    window_seconds BIGINT,
    counts         TEXT NOT NULL,
    detail         TEXT NOT NULL,
    fired_at_ns    BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    reported_by    TEXT NOT NULL
);
CREATE INDEX alerts_by_grant ON alerts (grant_id, fired_at_ns);
CREATE INDEX alerts_by_time ON alerts (fired_at_ns);

-- The newest usage snapshot per grant (PUT /v1/grants/{id}/usage); as_of never goes back.
CREATE TABLE grant_usage (
    grant_id    TEXT PRIMARY KEY REFERENCES access_requests (id),
    requests    BIGINT NOT NULL,
    tokens      BIGINT NOT NULL,
    denied      BIGINT NOT NULL,
    as_of_ns    BIGINT NOT NULL,
    reported_at BIGINT NOT NULL,
    reported_by TEXT NOT NULL
);
