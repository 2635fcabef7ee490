-- The issuer's tables (SQLite). Times are Unix seconds; lists are JSON text.
CREATE TABLE access_requests (
    id                 TEXT PRIMARY KEY,
    requester          TEXT NOT NULL,
    requester_kind     TEXT NOT NULL,
    requester_groups   TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    duration_seconds   BIGINT NOT NULL,
    reason             TEXT NOT NULL,
    urgency            TEXT NOT NULL,
    break_glass        BIGINT NOT NULL,
    project            TEXT,
    ticket             TEXT,
    limit_requests     BIGINT,
    limit_tokens       BIGINT,
    state              TEXT NOT NULL,
    approvals_required BIGINT NOT NULL,
    assessment         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    pending_until      BIGINT NOT NULL,
    approved_at        BIGINT,
    window_end         BIGINT,
    ended_at           BIGINT,
    version            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX access_requests_by_state ON access_requests (state);
CREATE INDEX access_requests_by_requester ON access_requests (requester);

CREATE TABLE reviews (
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    reviewer   TEXT NOT NULL,
    decision   TEXT NOT NULL,
    comment    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (request_id, reviewer)
);

CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX transitions_by_request ON transitions (request_id, id);

-- One row per revoked grant; seq is the feed position, taken from feed_counter inside the
-- revoking transaction so positions become visible in order (see store/revocations.rs).
CREATE TABLE revocations (
    seq        BIGINT PRIMARY KEY,
    grant_id   TEXT NOT NULL UNIQUE REFERENCES access_requests (id),
    revoked_by TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE feed_counter (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO feed_counter (name, value) VALUES ('revocations', 0);

CREATE TABLE minted_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES access_requests (id),
    subject    TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX minted_tokens_by_grant ON minted_tokens (grant_id);
