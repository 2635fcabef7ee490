//! The narrow interface between the filter's logic and its host.
//!
//! Everything the glue needs from Envoy goes through these two traits, so the glue is
//! unit-tested natively with [`crate::fake`]'s fake host, and the real implementation
//! ([`crate::envoy`]) is a thin layer of proxy-wasm host calls whose errors are handled
//! instead of unwrapped (a panic traps the VM and fails every later request on the worker).

use std::time::Duration;

use crate::upstream::Upstream;

/// Log levels the filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Routine events worth a line in debug logs.
    Debug,
    /// State changes (keys loaded).
    Info,
    /// Degraded but working (a failed poll).
    Warn,
    /// Refused configuration, cannot decide.
    Error,
}

/// Counters the filter keeps. Names are in [`crate::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Requests let through.
    Allowed,
    /// Requests refused, by reason code index in `jitgate_grant::reason::ALL_REASONS`.
    Denied(usize),
    /// Verification cache hits.
    CacheHits,
    /// Verification cache misses.
    CacheMisses,
    /// Successful key fetches.
    KeyFetchesOk,
    /// Failed key fetches.
    KeyFetchesFailed,
    /// Successful revocation polls.
    RevocationPollsOk,
    /// Failed revocation polls.
    RevocationPollsFailed,
    /// Audit records the collector acknowledged.
    AuditSent,
    /// Audit batches sent again after a failure.
    AuditRetried,
    /// Audit records dropped (overflow policy, or past the hard cap).
    AuditDropped,
    /// Audit records the collector refused for good (a 400 or 413 for their batch).
    AuditRejected,
    /// Audit batches that failed (no answer, or a status to retry).
    AuditBatchesFailed,
    /// Budget counts written again after another worker wrote first (compare-and-swap).
    BudgetCasRetries,
    /// Completed responses whose tokens could not be added to their grant's count.
    BudgetCountFailed,
}

/// Gauges the filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gauge {
    /// Audit records waiting in this VM's buffer.
    AuditBufferDepth,
}

/// A shared-data value and the token a compare-and-swap write of its key must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedValue {
    /// The value.
    pub bytes: Vec<u8>,
    /// Changes on every write of the key.
    pub cas: u32,
}

/// Why a shared-data call did not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedDataError {
    /// The key was written since the read whose CAS token the write presented.
    CasMismatch,
    /// The host failed the call.
    Failed,
}

/// What both kinds of context can do.
pub trait CommonHost {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Writes a log line. Callers never pass tokens or credentials.
    fn log(&self, level: Level, message: &str);
    /// Adds to a counter.
    fn increment(&mut self, counter: Counter, by: u64);
    /// Sets a gauge.
    fn set_gauge(&mut self, gauge: Gauge, value: u64);
    /// Reads a key of the shared data: one store per `vm_id`, shared by every worker VM of
    /// the Envoy process. `Ok(None)` when the key does not exist.
    fn shared_data(&self, key: &str) -> Result<Option<SharedValue>, SharedDataError>;
    /// Writes a key of the shared data. With `cas`, only if nobody wrote it since the read
    /// that returned that token; without, unconditionally (the only way to create a key:
    /// proxy-wasm has no "create if absent").
    fn set_shared_data(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedDataError>;
}

/// The per-request host: headers, body, local replies, filter state.
pub trait RequestHost: CommonHost {
    /// All request headers, in order, repeated names kept.
    fn request_headers(&self) -> Vec<(String, String)>;
    /// Removes every value of a request header.
    fn remove_request_header(&mut self, name: &str);
    /// Adds a request header value.
    fn add_request_header(&mut self, name: &str, value: &str);
    /// The first `size` bytes of the buffered request body.
    fn request_body(&self, size: usize) -> Option<Vec<u8>>;
    /// Ends the request with a local reply.
    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]);
    /// Publishes a value as filter state for access logs and later filters.
    fn set_filter_state(&mut self, key: &str, value: &str);
    /// All response headers.
    fn response_headers(&self) -> Vec<(String, String)>;
    /// The response body data of the current callback (`size` bytes).
    fn response_body(&self, size: usize) -> Option<Vec<u8>>;
    /// An Envoy attribute (`["source", "address"]`, `["response", "code"]`, …), raw.
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
}

/// An HTTP call's outcome as the root context sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResponse {
    /// `:status`, if the call got a response at all.
    pub status: Option<u16>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

/// The per-VM host: outgoing calls and timers.
pub trait RootHost: CommonHost {
    /// Starts an HTTP GET; returns the call's token.
    fn dispatch_get(
        &mut self,
        upstream: &Upstream,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<u32, String>;
    /// Starts an HTTP POST of `body` to the upstream's path; returns the call's token.
    fn dispatch_post(
        &mut self,
        upstream: &Upstream,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<u32, String>;
    /// Sets how often `on_tick` runs.
    fn set_tick_period(&mut self, period: Duration);
}
