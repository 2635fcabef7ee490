//! The reviewer web page: server-rendered HTML that works without JavaScript.
//!
//! - `GET /login/oidc`, `GET /login/callback`: sign in at the organisation's identity
//!   provider (OIDC authorization code flow with PKCE, `state` and `nonce`; see [`sso`]).
//! - `GET /login`, `POST /login`: or paste an API token or OIDC ID token, checked once.
//!   Either way the browser gets an opaque session id in an `HttpOnly`, `SameSite=Lax` cookie,
//!   looked up in the database on every page (any replica serves any page): the cookie never
//!   holds a credential. Sessions expire (8 h, or the pasted ID token's own expiry), end at
//!   logout, and end when the API token they were opened with is removed.
//! - `GET /review`: the pending requests the signed-in reviewer may decide, with requester,
//!   scopes, duration, budget (the limits tokens will carry), reason and the policy's
//!   explanation. The guard's credential cannot sign in.
//! - `POST /review/{id}`: approve or deny with a comment.
//! - `GET /requests`, `POST /requests`: the requester's page — ask for access (first checking
//!   what the policy would do, from the same Cedar evaluation), see their requests with their
//!   history and time left; `POST /requests/{id}/token` (shown once, as `export` lines),
//!   `/cancel`, `/revoke` (see [`requester`]).
//! - `POST /logout`.
//!
//! Every form carries a CSRF token that must equal the `jitgate_csrf` cookie (double submit,
//! compared in constant time), and a cross-site `Origin` is refused outright. Every value
//! from a request or the database is HTML-escaped (see [`html::escape`]); the page sends a
//! strict Content-Security-Policy.

mod csrf;
mod handlers;
mod html;
mod request_form;
mod requester;
mod session;
mod sso;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub use html::escape;

/// The web page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(handlers::home))
        .route("/login", get(handlers::login_form).post(handlers::login))
        .route("/login/oidc", get(sso::begin))
        .route("/login/callback", get(sso::callback))
        .route("/logout", post(handlers::logout))
        .route(
            "/requests",
            get(requester::my_requests).post(requester::ask),
        )
        .route("/requests/{id}/token", post(requester::token))
        .route("/requests/{id}/{action}", post(requester::end))
        .route("/review", get(handlers::review_page))
        .route("/review/{id}", post(handlers::decide))
        .route("/static/review.css", get(handlers::stylesheet))
}
