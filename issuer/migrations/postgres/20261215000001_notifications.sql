-- Notifications (issue 16): the durable outbox. A row is written in the same transaction as
-- the change people must hear about, one per (event, channel); delivery workers on every
-- replica claim due rows, send them, and mark them delivered, retry them later, or move
-- them to the dead letters (dead_at) after the last attempt.
--
-- message_id is the stable idempotency id the receiver sees (Standard Webhooks webhook-id):
-- every attempt of one row sends the same one. Times: seconds (created_at, delivered_at,
-- dead_at) and milliseconds (next_attempt_ms, claimed_until_ms: retries and claims are
-- finer than a second).
CREATE TABLE notification_outbox (
    id               BIGSERIAL PRIMARY KEY,
    message_id       TEXT NOT NULL UNIQUE,
    channel          TEXT NOT NULL,
    event            TEXT NOT NULL,
    request_id       TEXT REFERENCES access_requests (id),
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    claimed_by       TEXT,
    claimed_until_ms BIGINT,
    delivered_at     BIGINT,
    dead_at          BIGINT,
    last_error       TEXT
);
-- The workers' query: undelivered, live rows by due time.
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_ms)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX notification_outbox_dead ON notification_outbox (dead_at)
    WHERE dead_at IS NOT NULL;
