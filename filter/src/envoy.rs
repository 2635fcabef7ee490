//! The proxy-wasm wiring: Envoy's root and HTTP contexts delegating to [`crate::root`] and
//! [`crate::request`], and [`EnvoyHost`], the real [`crate::host`] implementation.
//!
//! Host calls go through `proxy_wasm::hostcalls` directly and their errors are handled: the
//! SDK's trait helpers unwrap, and a panic traps the VM and fails every later request on the
//! worker (with `failure_policy: FAIL_CLOSED`, as 503s).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};

use crate::host::{
    CallResponse, CommonHost, Counter, Gauge, Level, RequestHost, RootHost, SharedDataError,
    SharedValue,
};
use crate::request::{RequestFlow, Step};
use crate::state::VmState;
use crate::upstream::Upstream;
use crate::{metrics, root};

/// Host calls for one VM. Cheap to clone: contexts share the metric ids.
#[derive(Debug, Clone, Default)]
pub struct EnvoyHost {
    metric_ids: Rc<RefCell<HashMap<Counter, u32>>>,
    gauge_ids: Rc<RefCell<HashMap<Gauge, u32>>>,
}

impl CommonHost for EnvoyHost {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        // Nothing useful can be done if logging itself fails.
        let _ = hostcalls::log(level, message);
    }

    fn increment(&mut self, counter: Counter, by: u64) {
        let mut ids = self.metric_ids.borrow_mut();
        let id = match ids.get(&counter) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, &metrics::name(counter)) {
                Ok(id) => {
                    ids.insert(counter, id);
                    id
                }
                Err(_) => return,
            },
        };
        if by > 0 {
            let _ = hostcalls::increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX));
        }
    }

    fn set_gauge(&mut self, gauge: Gauge, value: u64) {
        let mut ids = self.gauge_ids.borrow_mut();
        let id = match ids.get(&gauge) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Gauge, metrics::gauge_name(gauge)) {
                Ok(id) => {
                    ids.insert(gauge, id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = hostcalls::record_metric(id, value);
    }

    fn shared_data(&self, key: &str) -> Result<Option<SharedValue>, SharedDataError> {
        match hostcalls::get_shared_data(key) {
            // Envoy gives every write a non-zero CAS token; none means no such key.
            Ok((_, None)) => Ok(None),
            Ok((bytes, Some(cas))) => Ok(Some(SharedValue {
                bytes: bytes.unwrap_or_default(),
                cas,
            })),
            Err(_) => Err(SharedDataError::Failed),
        }
    }

    fn set_shared_data(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), SharedDataError> {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(SharedDataError::CasMismatch),
            Err(_) => Err(SharedDataError::Failed),
        }
    }
}

impl RequestHost for EnvoyHost {
    fn request_headers(&self) -> Vec<(String, String)> {
        hostcalls::get_map(MapType::HttpRequestHeaders).unwrap_or_default()
    }

    fn remove_request_header(&mut self, name: &str) {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
    }

    fn add_request_header(&mut self, name: &str, value: &str) {
        let _ = hostcalls::add_map_value(MapType::HttpRequestHeaders, name, value);
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .ok()
            .flatten()
    }

    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        if hostcalls::send_http_response(u32::from(status), headers.to_vec(), Some(body)).is_err() {
            // Without a local reply the request would hang paused: reset it instead.
            let _ = hostcalls::reset_http_request();
        }
    }

    fn set_filter_state(&mut self, key: &str, value: &str) {
        let _ = hostcalls::set_property(vec![key], Some(value.as_bytes()));
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        hostcalls::get_map(MapType::HttpResponseHeaders).unwrap_or_default()
    }

    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
            .ok()
            .flatten()
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        hostcalls::get_property(path.to_vec()).ok().flatten()
    }
}

impl RootHost for EnvoyHost {
    fn dispatch_get(
        &mut self,
        upstream: &Upstream,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<u32, String> {
        let headers = upstream.get_headers(path_and_query, headers);
        hostcalls::dispatch_http_call(&upstream.cluster, headers, None, vec![], upstream.timeout)
            .map_err(|status| format!("dispatch refused ({status:?}); is the cluster defined?"))
    }

    fn dispatch_post(
        &mut self,
        upstream: &Upstream,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<u32, String> {
        let mut all = vec![
            (":method", "POST"),
            (":path", upstream.path.as_str()),
            (":authority", upstream.authority.as_str()),
        ];
        all.extend_from_slice(headers);
        hostcalls::dispatch_http_call(&upstream.cluster, all, Some(body), vec![], upstream.timeout)
            .map_err(|status| format!("dispatch refused ({status:?}); is the cluster defined?"))
    }

    fn set_tick_period(&mut self, period: Duration) {
        let _ = hostcalls::set_tick_period(period);
    }
}

/// The root context: one per VM.
#[derive(Default)]
pub struct JitgateRoot {
    host: EnvoyHost,
    state: Option<Rc<RefCell<VmState>>>,
}

impl Context for JitgateRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(state) = &self.state else { return };
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|status| status.parse().ok());
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten();
        let response = CallResponse { status, body };
        root::on_call_response(&mut state.borrow_mut(), &mut self.host, token_id, &response);
    }
}

impl RootContext for JitgateRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let configuration = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let environment = |name: &str| std::env::var(name).ok();
        match root::configure(&mut self.host, &configuration, &environment) {
            Ok(state) => {
                self.state = Some(Rc::new(RefCell::new(state)));
                // Start fetching at once rather than a tick from now.
                self.on_tick();
                true
            }
            Err(error) => {
                self.host
                    .log(Level::Error, &format!("invalid configuration: {error}"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(state) = &self.state {
            root::tick(&mut state.borrow_mut(), &mut self.host);
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let state = self.state.as_ref()?;
        Some(Box::new(JitgateRequest {
            host: self.host.clone(),
            state: Rc::clone(state),
            flow: RequestFlow::new(),
        }))
    }
}

/// The HTTP context: one per request.
pub struct JitgateRequest {
    host: EnvoyHost,
    state: Rc<RefCell<VmState>>,
    flow: RequestFlow,
}

impl Context for JitgateRequest {
    /// The stream is over: write its audit record. This is the callback Envoy reliably makes
    /// at the end of every stream (its `proxy_on_log` for HTTP contexts is not delivered
    /// here), and the stream's attributes — response code, sizes — are still readable.
    fn on_done(&mut self) -> bool {
        self.flow
            .on_log(&mut self.state.borrow_mut(), &mut self.host);
        true
    }
}

impl HttpContext for JitgateRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let step =
            self.flow
                .on_headers(&mut self.state.borrow_mut(), &mut self.host, end_of_stream);
        to_action(step)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let step = self.flow.on_body(
            &mut self.state.borrow_mut(),
            &mut self.host,
            body_size,
            end_of_stream,
        );
        to_action(step)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let step = self
            .flow
            .on_trailers(&mut self.state.borrow_mut(), &mut self.host);
        to_action(step)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.flow
            .on_response_headers(&self.state.borrow(), &self.host);
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.flow.on_response_body(&self.host, body_size);
        if end_of_stream {
            // Before the last bytes go on to the client: a client that has read the whole
            // response finds its tokens already counted.
            self.flow
                .on_response_complete(&mut self.state.borrow_mut(), &mut self.host);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        self.flow
            .on_response_complete(&mut self.state.borrow_mut(), &mut self.host);
        Action::Continue
    }
}

fn to_action(step: Step) -> Action {
    match step {
        Step::Continue => Action::Continue,
        Step::Pause => Action::Pause,
    }
}
