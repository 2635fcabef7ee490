//! A proxy-wasm HTTP filter that does nothing: every request and response continues untouched.
//!
//! The benchmarks (`cargo xtask bench`) load it exactly like jitgate's filter (same runtime,
//! same SDK, same release profile) to measure what merely having a Wasm filter in the chain
//! costs, so jitgate's own cost can be read as the difference. It must never grow logic: any
//! work here would hide jitgate's overhead instead of revealing it.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

/// The VM entry point, in a private module so the `_initialize` export the SDK macro generates
/// needs no documentation of its own.
mod entry {
    use proxy_wasm::traits::RootContext;
    use proxy_wasm::types::LogLevel;

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Warn);
        proxy_wasm::set_root_context(|_context_id| -> Box<dyn RootContext> {
            Box::new(super::NoopRoot)
        });
    }}
}

/// Hands every HTTP stream a [`NoopStream`].
struct NoopRoot;

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(NoopStream))
    }
}

/// One HTTP stream; the SDK's default callbacks all answer `Continue`.
struct NoopStream;

impl Context for NoopStream {}

impl HttpContext for NoopStream {}
