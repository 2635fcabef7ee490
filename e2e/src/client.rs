//! The HTTP client tests use against Envoy and the stubs: loopback only, bounded in time.

use std::time::Duration;

use crate::error::Result;

/// Connecting to loopback is instant; anything longer is a bug.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// No request in a test may take longer than this, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking client that ignores proxy settings and times out every request.
///
/// Blocking: call it from sync tests (or `spawn_blocking`), not directly inside a tokio task.
pub fn http_client() -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()?)
}
