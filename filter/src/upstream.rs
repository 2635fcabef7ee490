//! One typed description of every call the filter makes to another cluster (keys, the
//! revocation feed), so `:method`, `:path` and `:authority` are built in one place.

use std::time::Duration;

/// A cluster endpoint the filter calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Envoy cluster name.
    pub cluster: String,
    /// `:authority` to send (defaults to the cluster name).
    pub authority: String,
    /// Path, with any query.
    pub path: String,
    /// Call timeout.
    pub timeout: Duration,
}

impl Upstream {
    /// Validates the parts; the error says which is wrong.
    pub fn new(
        cluster: &str,
        authority: Option<&str>,
        path: &str,
        timeout_ms: u64,
    ) -> Result<Upstream, String> {
        if cluster.is_empty() {
            return Err("cluster must not be empty".into());
        }
        if !path.starts_with('/') || path.chars().any(|c| c.is_control() || c == ' ') {
            return Err(format!(
                "path {path:?} must be an absolute path without spaces"
            ));
        }
        if !(50..=60_000).contains(&timeout_ms) {
            return Err("timeout_ms must be between 50 and 60000".into());
        }
        Ok(Upstream {
            cluster: cluster.to_owned(),
            authority: authority.unwrap_or(cluster).to_owned(),
            path: path.to_owned(),
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// The headers of a GET to `path_and_query` (relative to nothing: a full path), plus
    /// `extra`.
    pub fn get_headers<'a>(
        &'a self,
        path_and_query: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut headers = vec![
            (":method", "GET"),
            (":path", path_and_query),
            (":authority", self.authority.as_str()),
            ("accept", "application/json"),
        ];
        headers.extend_from_slice(extra);
        headers
    }
}
