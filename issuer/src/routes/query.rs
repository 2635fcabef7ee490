//! Query strings and small JSON bodies parsed with errors in the issuer's own 400 format
//! (axum's extractors answer in plain text).

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parses a query string (absent = empty) into `T`.
pub fn parse_query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|error| Error::BadRequest(format!("query: {error}")))
}

/// Parses an optional JSON body: empty means `T::default()`.
pub fn parse_optional_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|error| Error::BadRequest(format!("body: {error}")))
}
