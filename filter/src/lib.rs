//! jitgate's Envoy filter: checks the grant token on every request, enforces its scope (down
//! to the `model` in an OpenAI-style JSON body), and answers refusals the way RFC 6750 says.
//!
//! This crate is glue. Every decision comes from `jitgate_grant::decide`; what lives here is
//! reading the request from Envoy, keeping keys and revocations fresh, counting budgets in
//! the Envoy's shared data, and turning decisions into Envoy actions. The logic is written against the narrow traits in [`host`] and tested
//! natively with [`fake::FakeHost`]; [`envoy`] binds it to proxy-wasm.

pub mod audit;
pub mod backoff;
pub mod budget;
pub mod config;
pub mod envoy;
pub mod fake;
pub mod host;
pub mod keys;
pub mod metrics;
pub mod request;
pub mod revocation;
pub mod root;
pub mod schedule;
pub mod state;
pub mod upstream;

/// The VM entry point. In a private module so the exported `_initialize` the SDK macro
/// generates is not part of this crate's documented API.
mod entry {
    use proxy_wasm::traits::RootContext;
    use proxy_wasm::types::LogLevel;

    use crate::envoy::JitgateRoot;

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Info);
        // A panic traps the VM and fails every later request on that worker: make it visible
        // in Envoy's log at critical level. Replaces the SDK's hook, which unwraps the log call.
        std::panic::set_hook(Box::new(|panic_info| {
            let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("panic: {panic_info}"));
        }));
        proxy_wasm::set_root_context(|_context_id| -> Box<dyn RootContext> {
            Box::new(JitgateRoot::default())
        });
    }}
}
