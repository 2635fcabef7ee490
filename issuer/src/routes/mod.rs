//! The HTTP surface: [`app`] wires every route to its handler. Handlers authenticate, call
//! [`crate::service`], and shape the answer; they hold no rules of their own.

mod admin;
mod alerts;
mod caller;
mod grants;
mod health;
mod jwks;
mod notifications;
mod openapi;
mod query;
mod requests;
mod revocations;
mod usage;

use axum::routing::{get, post, put};
use axum::Router;

pub use caller::{AnyCaller, Caller};
pub use openapi::OPENAPI_JSON;

use crate::state::AppState;

/// The issuer's router: JSON API (with the guard's alerts and usage), JWKS, revocation feed,
/// OpenAPI document and the reviewer web page.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/openapi.json", get(openapi::openapi))
        .route("/v1/whoami", get(health::whoami))
        .route("/v1/login/cli", get(health::cli_login))
        .route("/v1/requests", post(requests::create).get(requests::list))
        .route("/v1/requests/{id}", get(requests::show))
        .route("/v1/requests/{id}/approve", post(requests::approve))
        .route("/v1/requests/{id}/deny", post(requests::deny))
        .route("/v1/requests/{id}/cancel", post(requests::cancel))
        .route("/v1/grants", get(grants::list))
        .route("/v1/grants/{id}/token", post(grants::token))
        .route("/v1/grants/{id}/revoke", post(grants::revoke))
        .route("/v1/grants/{id}/usage", put(usage::report))
        .route("/v1/alerts", post(alerts::post).get(alerts::list))
        .route("/v1/revocations", get(revocations::feed))
        .route("/v1/admin/policy/reload", post(admin::reload_policy))
        .route("/v1/admin/keys/rotate", post(admin::rotate_key))
        .route("/v1/admin/keys/reload", post(admin::reload_keys))
        .route("/v1/admin/notifications", get(notifications::list))
        .route(
            "/v1/admin/notifications/{id}/retry",
            post(notifications::retry),
        )
        .route("/metrics", get(notifications::metrics))
        .merge(crate::web::routes())
        .with_state(state)
}
