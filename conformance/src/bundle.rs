//! The vector files as they were when this crate was compiled (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/bundled_vectors.rs"));

/// The trusted JWKS file.
pub const JWKS: &str = include_str!("../../testdata/jwks.json");
