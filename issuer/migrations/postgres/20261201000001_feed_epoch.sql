-- The revocation feed's epoch: a random id made once per database. Every feed cursor carries
-- it, so a gateway holding a cursor from another database (a fresh one, a move from SQLite)
-- is told to start again instead of silently skipping the new revocations
-- (see store/revocations.rs and docs/revocation-feed.md). gen_random_uuid: PostgreSQL 13+.
CREATE TABLE feed_epoch (
    name  TEXT PRIMARY KEY,
    epoch TEXT NOT NULL
);
INSERT INTO feed_epoch (name, epoch)
    VALUES ('revocations', replace(gen_random_uuid()::text, '-', ''));

-- Revocations are pruned once their grant's window (plus the longest gateway leeway) is over.
CREATE INDEX revocations_by_expiry ON revocations (expires_at);
