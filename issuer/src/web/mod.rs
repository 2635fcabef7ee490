//! The reviewer web page (server-rendered HTML, no JavaScript).

use axum::Router;

use crate::state::AppState;

/// The web page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
