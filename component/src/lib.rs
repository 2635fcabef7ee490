//! jitgate's decision core as a WebAssembly component: the world `jitgate:policy/policy` in
//! `wit/jitgate.wit`, implemented as a thin adapter over [`jitgate_grant::decide`].
//!
//! `cargo xtask build` builds it for `wasm32-wasip2` (rustc links the cdylib into a
//! component). It must never decide anything itself: it only converts WIT values to the
//! core's types and back, so every host gets the answer the Envoy filter gives.

// The generated bindings carry no docs of their own; the WIT file documents them.
#[allow(missing_docs, unsafe_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit/jitgate.wit",
        world: "policy",
    });
}

mod decisions;
mod facts;
mod reason;

/// The component's exports.
pub struct PolicyComponent;

// The canonical-ABI entry points wit-bindgen writes: `unsafe` and `export_name` are its
// business (it lifts and lowers component values), confined to this one module. Only on
// wasm32: their names (`jitgate:policy/decisions@0.2.0#decide`) are not valid symbols in a
// native linker's version script, and a native build has no component host to call them.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod entry_points {
    use crate::PolicyComponent;

    crate::bindings::export!(PolicyComponent with_types_in crate::bindings);
}
