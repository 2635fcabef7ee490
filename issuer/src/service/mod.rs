//! What the issuer does, independent of how it is asked (JSON API or web page): submit,
//! review, cancel, revoke, mint, expire. Each operation takes the authenticated subject and
//! checks what that subject may do; handlers only translate HTTP.

pub mod expiry;
pub mod lifecycle;
pub mod next_step;
pub mod reviews;
pub mod submit;
pub mod tokens;
pub mod visibility;

use crate::error::{Error, Result};
use crate::requests::AccessRequest;
use crate::state::AppState;
use crate::store::requests;

/// Loads request `id` as stored (no visibility check).
pub async fn load(state: &AppState, id: &str) -> Result<AccessRequest> {
    let mut conn = state.store.pool().acquire().await?;
    requests::get(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("request {id}")))
}
