//! A wasmtime host for the jitgate policy component (`wit/jitgate.wit`), used by the tests
//! that hold the component to the native and proxy-wasm answers. The loading code is the
//! embedding example in `docs/component.md`; keep the two in step.

use std::path::{Path, PathBuf};

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

// The filter's own vector glue, shared with `filter/tests/glue_vectors.rs`.
#[path = "../../../filter/tests/support/vector_glue.rs"]
pub mod glue;

/// The host side of the world, generated from the WIT (which documents it).
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/jitgate.wit",
        world: "policy",
    });
}

pub use bindings::exports::jitgate::policy::types::{
    Decision, Gate, GateError, GrantFacts, GrantUsage, ModelFact, Outcome, Reason, RequestFacts,
    TokenInput,
};
use bindings::Policy;

/// The environment variable naming the built component (`cargo xtask test` sets it).
pub const COMPONENT_WASM_ENV: &str = "JITGATE_COMPONENT_WASM";

/// The built component: `$JITGATE_COMPONENT_WASM`, else `cargo xtask build`'s output (the
/// `component` profile) in the workspace's target directory.
pub fn component_path() -> PathBuf {
    match std::env::var_os(COMPONENT_WASM_ENV) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/wasm32-wasip2/component/jitgate_component.wasm"),
    }
}

/// One instance of the component in its own store.
pub struct PolicyHost {
    store: Store<()>,
    policy: Policy,
}

impl PolicyHost {
    /// Compiles and instantiates the component at `path`.
    pub fn load(path: &Path) -> wasmtime::Result<PolicyHost> {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path)?;
        PolicyHost::instantiate(&engine, &component)
    }

    /// A fresh instance of an already compiled component (compiling is the slow part).
    ///
    /// Rust's standard library on `wasm32-wasip2` imports a few WASI CLI interfaces (stdio
    /// for panic messages, environment, exit) and `wasi:random/insecure-seed` (the keys of
    /// its hash maps). The decision path needs only the seed: every other import is linked
    /// to a trap, so a test that passes here also proves `decide` does no I/O.
    pub fn instantiate(engine: &Engine, component: &Component) -> wasmtime::Result<PolicyHost> {
        let mut linker = Linker::new(engine);
        let seed_imports: Vec<String> = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .filter(|name| name.starts_with("wasi:random/insecure-seed@"))
            .collect();
        for name in seed_imports {
            linker
                .instance(&name)?
                .func_wrap("insecure-seed", |_, ()| Ok(((hash_seed(1), hash_seed(2)),)))?;
        }
        linker.define_unknown_imports_as_traps(component)?;
        let mut store = Store::new(engine, ());
        let policy = Policy::instantiate(&mut store, component, &linker)?;
        Ok(PolicyHost { store, policy })
    }

    /// `decide` inside the component.
    pub fn decide(
        &mut self,
        gate: &Gate,
        request: &RequestFacts,
        token: &TokenInput,
    ) -> wasmtime::Result<Result<Decision, GateError>> {
        self.policy
            .jitgate_policy_decisions()
            .call_decide(&mut self.store, gate, request, token)
    }

    /// `extract-bearer` inside the component.
    pub fn extract_bearer(
        &mut self,
        header_values: &[String],
        prefix: &str,
    ) -> wasmtime::Result<TokenInput> {
        self.policy.jitgate_policy_decisions().call_extract_bearer(
            &mut self.store,
            header_values,
            prefix,
        )
    }

    /// `read-model` inside the component.
    pub fn read_model(
        &mut self,
        content_type: Option<&str>,
        body: &[u8],
        max_body_bytes: u64,
    ) -> wasmtime::Result<Result<String, Reason>> {
        self.policy.jitgate_policy_decisions().call_read_model(
            &mut self.store,
            content_type,
            body,
            max_body_bytes,
        )
    }

    /// `reason-code` inside the component.
    pub fn reason_code(&mut self, reason: Reason) -> wasmtime::Result<String> {
        self.policy
            .jitgate_policy_decisions()
            .call_reason_code(&mut self.store, reason)
    }
}

/// A per-process random value from the host's own hash-map keys: enough for a seed that
/// only has to make hash flooding unpredictable.
fn hash_seed(salt: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(salt);
    hasher.finish()
}
