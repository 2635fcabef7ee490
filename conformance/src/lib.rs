//! Conformance vectors for jitgate's decision core: how they are made and how any host runs
//! them.
//!
//! A vector is a JSON file in `testdata/vectors/`: a fixed `now`, the request facts (method,
//! path, credential headers, body), the gate's state, a token, and the expected outcome,
//! reason and status. The same files are run by the native tests, inside WebAssembly, and
//! (re-minted so they are valid at the real time) through a real Envoy, so every host is held
//! to one answer.
//!
//! The catalog in [`catalog`] is the source of truth; `cargo xtask vectors` writes it out
//! deterministically with the test keys in `testdata/keys/`.

pub mod bundle;
pub mod catalog;
pub mod recipe;
pub mod runner;
pub mod testkeys;
pub mod vector;

pub use runner::{run_vector, Observed};
pub use vector::{Expectation, UsedSoFar, Vector};
