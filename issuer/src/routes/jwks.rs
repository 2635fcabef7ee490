//! `GET /.well-known/jwks.json`: the public keys (current and previous) grant tokens verify
//! with. Cacheable for five minutes: a rotated key is published at once, and the previous
//! key stays published, so a verifier with a slightly stale copy still accepts everything.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// How long verifiers may cache the JWKS.
pub const CACHE_CONTROL: &str = "public, max-age=300";

/// The JWKS document.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        state.keys.jwks_json(),
    )
}
