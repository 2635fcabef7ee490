-- The revocation feed's epoch: a random id made once per database. Every feed cursor carries
-- it, so a gateway holding a cursor from another database (a fresh file, a move to
-- PostgreSQL) is told to start again instead of silently skipping the new revocations
-- (see store/revocations.rs and docs/revocation-feed.md).
CREATE TABLE feed_epoch (
    name  TEXT PRIMARY KEY,
    epoch TEXT NOT NULL
);
INSERT INTO feed_epoch (name, epoch) VALUES ('revocations', lower(hex(randomblob(16))));

-- Revocations are pruned once their grant's window (plus the longest gateway leeway) is over.
CREATE INDEX revocations_by_expiry ON revocations (expires_at);
