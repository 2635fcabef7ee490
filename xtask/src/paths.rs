//! Where things live: the repository root and the tools folder. Nothing here creates files.

use std::env;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The workspace root, wherever `cargo xtask` was started from inside it.
pub fn repo_root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the process it starts; the compile-time value is
    // the fallback when the binary is run directly.
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// The folder the pinned dev tools are installed into: `$JITGATE_TOOLS_DIR` if set (CI points
/// it at a cache), else `<repo>/.tools`, which git ignores.
pub fn tools_dir(root: &Path) -> Result<PathBuf, Error> {
    match env::var_os("JITGATE_TOOLS_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => std::path::absolute(&dir).map_err(Error::io(dir)),
        None => Ok(root.join(".tools")),
    }
}
