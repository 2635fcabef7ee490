//! CSRF protection for the web forms: the double-submit pattern. A random token lives in the
//! `jitgate_csrf` cookie (`SameSite=Strict`) and in every form; a POST must carry both, equal.
//! A cross-site page can make the browser send the cookie only without SameSite — and cannot
//! read it to fill the form field either way.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::session::cookie;
use crate::error::{Error, Result};
use crate::ids;

/// The cookie's name.
pub const COOKIE: &str = "jitgate_csrf";

/// The request's CSRF token, or a new one (and whether it is new, so it gets set).
pub fn token(headers: &HeaderMap) -> Result<(String, bool)> {
    match cookie(headers, COOKIE) {
        Some(existing) if existing.len() == 43 => Ok((existing, false)),
        _ => Ok((
            jitgate_grant::base64url::encode(&ids::random_bytes::<32>()?),
            true,
        )),
    }
}

/// Checks a form submission: same-origin (when the browser says), cookie equals field.
pub fn check(headers: &HeaderMap, field: &str) -> Result<()> {
    // `Origin: null` (privacy contexts, some redirects) says nothing; the token still decides.
    if let (Some(origin), Some(host)) = (
        headers
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .filter(|origin| *origin != "null"),
        headers.get("host").and_then(|v| v.to_str().ok()),
    ) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err(Error::Forbidden(
                "cross-site form submission refused".into(),
            ));
        }
    }
    let expected = cookie(headers, COOKIE).unwrap_or_default();
    let matches = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(field.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "the form's CSRF token does not match; reload the page and try again".into(),
        ))
    }
}
