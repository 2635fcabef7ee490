//! The reviewer web page: server-rendered HTML that works without JavaScript.
//!
//! - `GET /login`, `POST /login`: paste an API token or OIDC ID token; it is checked and kept
//!   in an `HttpOnly`, `SameSite=Strict` cookie (re-verified on every page, so a revoked API
//!   token or an expired ID token ends the session; nothing is stored server-side, so any
//!   replica can serve any page).
//! - `GET /review`: the pending requests the signed-in reviewer may decide, with requester,
//!   scopes, duration, budget (the limits tokens will carry), reason and the policy's
//!   explanation. The guard's credential cannot sign in.
//! - `POST /review/{id}`: approve or deny with a comment.
//! - `POST /logout`.
//!
//! Every form carries a CSRF token that must equal the `jitgate_csrf` cookie (double submit,
//! compared in constant time), and a cross-site `Origin` is refused outright. Every value
//! from a request or the database is HTML-escaped (see [`html::escape`]); the page sends a
//! strict Content-Security-Policy.

mod csrf;
mod handlers;
mod html;
mod session;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub use html::escape;

/// The web page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(handlers::home))
        .route("/login", get(handlers::login_form).post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/review", get(handlers::review_page))
        .route("/review/{id}", post(handlers::decide))
        .route("/static/review.css", get(handlers::stylesheet))
}
