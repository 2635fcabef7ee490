//! The vector files as they were when this crate was compiled (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/bundled_vectors.rs"));

/// The trusted JWKS file.
pub const JWKS: &str = include_str!("../../testdata/jwks.json");

/// How many vector files `testdata/vectors/` holds now, counted on disk rather than in the
/// bundle. A test that runs "every vector" compares it with `FILES.len()`, so a vector added
/// after this crate was built cannot be skipped silently. Native only: WebAssembly under
/// Node has no repository to read.
#[cfg(not(target_arch = "wasm32"))]
pub fn vector_files_on_disk() -> std::io::Result<usize> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
    let mut count = 0;
    for entry in std::fs::read_dir(dir)? {
        if entry?.path().extension().is_some_and(|ext| ext == "json") {
            count += 1;
        }
    }
    Ok(count)
}
