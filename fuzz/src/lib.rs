//! What the fuzz targets share: the fixed inputs every target decides against (the test
//! policy, keys and clock of the conformance vectors) and the reference models the targets
//! compare jitgate's answers with.
//!
//! Each target in `fuzz_targets/` asserts properties beyond "does not panic"; the reasons
//! are in `docs/fuzzing.md`. Nothing here may be looser than production code: a reference
//! model is written from the RFC, not from the code it checks.

pub mod fixtures;
pub mod lenient_json;
pub mod path_reference;
