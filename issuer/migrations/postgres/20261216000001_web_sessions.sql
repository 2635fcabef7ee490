-- Web sign-in (issue 16): opaque sessions and pending OIDC sign-ins.
--
-- The session cookie holds a random id; only its SHA-256 is stored, so a database leak
-- yields no usable cookie, and the cookie never holds a credential. A session names the
-- subject as it signed in (groups and kind at that moment), how (api_token | id_token |
-- oidc), and for an API token its digest: a token removed from the API-token file ends its
-- sessions. Times are Unix seconds.
CREATE TABLE web_sessions (
    id_sha256         TEXT PRIMARY KEY,
    subject           TEXT NOT NULL,
    subject_kind      TEXT NOT NULL,
    groups            TEXT NOT NULL,
    source            TEXT NOT NULL,
    credential_sha256 TEXT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    revoked_at        BIGINT
);
CREATE INDEX web_sessions_by_subject ON web_sessions (subject);

-- An OIDC sign-in between the redirect to the provider and its callback: keyed by the
-- SHA-256 of `state`, holding the nonce and the PKCE verifier; taken (deleted) by the
-- first callback that names it, so a replayed callback finds nothing.
CREATE TABLE web_logins (
    state_sha256  TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
