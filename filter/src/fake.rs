//! A fake host for testing the glue natively: request headers and body in, local replies,
//! header changes, filter state, counters, logs and dispatched calls recorded. Builder-style,
//! so a test reads as the request it sends.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use crate::host::{
    CommonHost, Counter, Gauge, Level, RequestHost, RootHost, SharedDataError, SharedValue,
};
use crate::metrics;
use crate::upstream::Upstream;

/// A local reply the glue sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentResponse {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl SentResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A call the glue dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchedCall {
    /// The token returned for it.
    pub token: u32,
    /// Cluster.
    pub cluster: String,
    /// Path with query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

/// Another worker writing a shared key between this worker's read and its write: after each
/// read of `key` (while `times` lasts), it writes `value` (or, when `None`, the value it
/// finds, as a no-op update would), so a write with the read's CAS token fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictingWriter {
    /// The key it writes.
    pub key: String,
    /// What it writes; `None`: the value already there.
    pub value: Option<Vec<u8>>,
    /// How many more reads it follows with a write.
    pub times: u32,
}

/// The shared data of one fake Envoy, with proxy-wasm's semantics: every write gives the key
/// a new CAS token; a write presenting an older token fails; a write without one always
/// succeeds, creating the key if needed. Share one between several [`FakeHost`]s (their
/// `shared` field) to play the worker VMs of one Envoy.
#[derive(Debug, Default)]
pub struct FakeSharedData {
    entries: BTreeMap<String, (Vec<u8>, u32)>,
    last_cas: u32,
    /// Writers that interleave with reads.
    pub conflicting_writers: Vec<ConflictingWriter>,
    /// Writes refused for a stale CAS token.
    pub cas_mismatches: u64,
}

impl FakeSharedData {
    /// A store shareable between fake hosts.
    pub fn shared() -> Rc<RefCell<FakeSharedData>> {
        Rc::new(RefCell::new(FakeSharedData::default()))
    }

    /// A key's value, if it exists.
    pub fn value(&self, key: &str) -> Option<&[u8]> {
        self.entries.get(key).map(|(value, _)| value.as_slice())
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Writes as proxy-wasm does.
    pub fn write(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedDataError> {
        if let (Some((_, current)), Some(cas)) = (self.entries.get(key), cas) {
            if *current != cas {
                self.cas_mismatches += 1;
                return Err(SharedDataError::CasMismatch);
            }
        }
        self.last_cas += 1;
        self.entries
            .insert(key.to_owned(), (value.to_vec(), self.last_cas));
        Ok(())
    }

    /// Reads as proxy-wasm does, then lets any conflicting writer of the key write.
    pub fn read(&mut self, key: &str) -> Option<SharedValue> {
        let found = self.entries.get(key).map(|(bytes, cas)| SharedValue {
            bytes: bytes.clone(),
            cas: *cas,
        });
        let mut writes = Vec::new();
        for writer in &mut self.conflicting_writers {
            if writer.key == key && writer.times > 0 {
                writer.times -= 1;
                let value = writer
                    .value
                    .clone()
                    .or_else(|| found.as_ref().map(|found| found.bytes.clone()));
                if let Some(value) = value {
                    writes.push(value);
                }
            }
        }
        for value in writes {
            let _ = self.write(key, &value, None);
        }
        found
    }
}

/// The fake host.
#[derive(Debug, Default)]
pub struct FakeHost {
    /// Current time, ms since the epoch.
    pub now_ms: u64,
    /// Request headers (in order).
    pub request_headers: Vec<(String, String)>,
    /// Request body.
    pub request_body: Vec<u8>,
    /// The local reply, if one was sent.
    pub response: Option<SentResponse>,
    /// Filter state set.
    pub filter_state: BTreeMap<String, String>,
    /// Counters by stat name.
    pub counters: BTreeMap<String, u64>,
    /// Log lines.
    pub logs: Vec<(Level, String)>,
    /// Calls dispatched.
    pub calls: Vec<DispatchedCall>,
    /// When set, dispatches fail with this message.
    pub dispatch_error: Option<String>,
    /// The tick period set.
    pub tick_period: Option<Duration>,
    /// Gauges by stat name.
    pub gauges: BTreeMap<String, u64>,
    /// Response headers (set by the test as the upstream's answer).
    pub response_headers: Vec<(String, String)>,
    /// The response body chunk the next `on_response_body` sees.
    pub response_chunk: Vec<u8>,
    /// Envoy attributes, by dotted path.
    pub properties: BTreeMap<String, Vec<u8>>,
    /// Bodies of POSTs dispatched, by call token.
    pub posted: BTreeMap<u32, Vec<u8>>,
    /// The Envoy's shared data (its own unless a test shares one between hosts).
    pub shared: Rc<RefCell<FakeSharedData>>,
    /// Host calls made, by the proxy-wasm ABI function each stands for (see
    /// [`FakeHost::crossings`]).
    pub crossings: RefCell<BTreeMap<&'static str, u64>>,
}

impl FakeHost {
    /// A host at time `now_ms`.
    pub fn at(now_ms: u64) -> FakeHost {
        FakeHost {
            now_ms,
            ..FakeHost::default()
        }
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> FakeHost {
        self.request_headers
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// A request with the pseudo-headers set.
    pub fn request(now_ms: u64, method: &str, path: &str) -> FakeHost {
        FakeHost::at(now_ms)
            .header(":method", method)
            .header(":path", path)
            .header(":authority", "gateway.test")
            .header("x-request-id", "req-1")
    }

    /// Sets the body.
    pub fn body(mut self, body: &[u8]) -> FakeHost {
        self.request_body = body.to_vec();
        self
    }

    /// Uses `shared` as the Envoy's shared data (another worker of the same Envoy).
    pub fn sharing(mut self, shared: &Rc<RefCell<FakeSharedData>>) -> FakeHost {
        self.shared = Rc::clone(shared);
        self
    }

    /// A counter's value by stat name (0 if never touched).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// How many times the glue crossed into the host, by the proxy-wasm ABI function each
    /// call stands for in [`crate::envoy::EnvoyHost`] (`proxy_get_header_map_pairs`, …). In
    /// Envoy every one copies through the VM's linear memory and leaves V8: on the hot path
    /// they cost more than the filter's own code, so `bench/hot-path` reports them.
    pub fn crossings(&self) -> BTreeMap<&'static str, u64> {
        self.crossings.borrow().clone()
    }

    fn cross(&self, function: &'static str) {
        *self.crossings.borrow_mut().entry(function).or_default() += 1;
    }

    /// Values of a request header as the upstream would see them.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.request_headers
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

impl CommonHost for FakeHost {
    fn now_ms(&self) -> u64 {
        self.cross("proxy_get_current_time_nanoseconds");
        self.now_ms
    }

    fn log(&self, _level: Level, _message: &str) {
        self.cross("proxy_log");
        // Logs are checked through `logs` only where a test cares; `&self` keeps the trait
        // honest for the real host, so nothing is recorded here.
    }

    fn increment(&mut self, counter: Counter, by: u64) {
        if by > 0 {
            // `EnvoyHost` defines the metric once and skips the call for a zero.
            self.cross("proxy_increment_metric");
        }
        *self.counters.entry(metrics::name(counter)).or_default() += by;
    }

    fn set_gauge(&mut self, gauge: Gauge, value: u64) {
        self.cross("proxy_record_metric");
        self.gauges
            .insert(metrics::gauge_name(gauge).to_owned(), value);
    }

    fn shared_data(&self, key: &str) -> Result<Option<SharedValue>, SharedDataError> {
        self.cross("proxy_get_shared_data");
        Ok(self.shared.borrow_mut().read(key))
    }

    fn set_shared_data(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedDataError> {
        self.cross("proxy_set_shared_data");
        self.shared.borrow_mut().write(key, value, cas)
    }
}

impl RequestHost for FakeHost {
    fn request_headers(&self) -> Vec<(String, String)> {
        self.cross("proxy_get_header_map_pairs");
        self.request_headers.clone()
    }

    fn remove_request_header(&mut self, name: &str) {
        self.cross("proxy_remove_header_map_value");
        self.request_headers
            .retain(|(key, _)| !key.eq_ignore_ascii_case(name));
    }

    fn add_request_header(&mut self, name: &str, value: &str) {
        self.cross("proxy_add_header_map_value");
        self.request_headers
            .push((name.to_owned(), value.to_owned()));
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        self.cross("proxy_get_buffer_bytes");
        Some(self.request_body[..size.min(self.request_body.len())].to_vec())
    }

    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.cross("proxy_send_local_response");
        self.response = Some(SentResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
    }

    fn set_filter_state(&mut self, key: &str, value: &str) {
        self.cross("proxy_set_property");
        self.filter_state.insert(key.to_owned(), value.to_owned());
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        self.cross("proxy_get_header_map_pairs");
        self.response_headers.clone()
    }

    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        self.cross("proxy_get_buffer_bytes");
        Some(self.response_chunk[..size.min(self.response_chunk.len())].to_vec())
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.cross("proxy_get_property");
        self.properties.get(&path.join(".")).cloned()
    }
}

impl RootHost for FakeHost {
    fn dispatch_get(
        &mut self,
        upstream: &Upstream,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<u32, String> {
        self.cross("proxy_http_call");
        if let Some(error) = &self.dispatch_error {
            return Err(error.clone());
        }
        let token = u32::try_from(self.calls.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.calls.push(DispatchedCall {
            token,
            cluster: upstream.cluster.clone(),
            path: path_and_query.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
        Ok(token)
    }

    fn dispatch_post(
        &mut self,
        upstream: &Upstream,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<u32, String> {
        let path = upstream.path.clone();
        let token = self.dispatch_get(upstream, &path, headers)?;
        self.posted.insert(token, body.to_vec());
        Ok(token)
    }

    fn set_tick_period(&mut self, period: Duration) {
        self.cross("proxy_set_tick_period");
        self.tick_period = Some(period);
    }
}
