//! Placeholder proxy-wasm HTTP filter: passes every request through and marks responses with
//! `x-jitgate-filter: loaded`, so the e2e harness can prove Envoy loaded this `.wasm`.
//!
//! It is to be replaced by the real grant-enforcing filter (issue 3). It must never block,
//! modify or log a request: it exists only to exercise loading into Envoy's per-worker VMs.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

/// The response header (and value) that shows the filter ran on a request.
pub const LOADED_HEADER: (&str, &str) = ("x-jitgate-filter", "loaded");

/// The VM entry point. In a private module so the exported `_initialize` the SDK macro
/// generates is not part of this crate's documented API.
mod entry {
    use super::PassThroughRoot;
    use proxy_wasm::traits::RootContext;
    use proxy_wasm::types::LogLevel;

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Info);
        // A panic traps the VM and fails every later request on that worker: make it visible
        // in Envoy's log at critical level. Replaces the SDK's hook, which unwraps the log call.
        std::panic::set_hook(Box::new(|panic_info| {
            let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &panic_info.to_string());
        }));
        proxy_wasm::set_root_context(|_context_id| -> Box<dyn RootContext> {
            Box::new(PassThroughRoot)
        });
    }}
}

/// Root context: one per worker VM; hands out a [`PassThrough`] per request.
struct PassThroughRoot;

impl Context for PassThroughRoot {}

impl RootContext for PassThroughRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(PassThrough))
    }
}

/// Per-request context: continues every phase and tags the response headers.
struct PassThrough;

impl Context for PassThrough {}

impl HttpContext for PassThrough {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let (name, value) = LOADED_HEADER;
        self.add_http_response_header(name, value);
        Action::Continue
    }
}
