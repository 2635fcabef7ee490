//! `GET /openapi.json`: the OpenAPI 3.1 document of the JSON API, kept next to the code in
//! `issuer/openapi.json` (a test checks that every route is in it).

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Serves the document.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
