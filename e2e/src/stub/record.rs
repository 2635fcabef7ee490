//! What the stub saw: every request, recorded before it is answered.

/// One request as received: method, target, every header in order, body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Path and query as received, e.g. `/v1/revocations?after=3`.
    pub target: String,
    /// Headers in the order received; names lower-case, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// The body, exactly (what arrived of it, when it did not arrive whole).
    pub body: Vec<u8>,
    /// Whether the body arrived to its end. `false` when the stream was reset or the
    /// connection closed first: the stub saw the start of a request it could never serve.
    pub body_complete: bool,
}

impl RecordedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of a header, in order.
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}
