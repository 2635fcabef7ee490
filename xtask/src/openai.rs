//! The official `openai` Python package, pinned, in `<tools>/openai`: the README walkthrough
//! calls the gateway with it (its token as the API key), and the walkthrough test runs that
//! step for real. Installed with pip into a folder of its own, never into the system Python.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::elapsed;
use crate::error::Error;
use crate::setup::pip_install;

/// The `openai` release the walkthrough is tested with.
pub const OPENAI_VERSION: &str = "3.57.0";

/// The folder to put on `PYTHONPATH`, installing the package there first if needed.
pub fn ensure(tools_dir: &Path) -> Result<PathBuf, Error> {
    let dir = tools_dir.join("openai");
    let marker = dir.join(format!("openai-{OPENAI_VERSION}.dist-info"));
    if marker.is_dir() {
        println!("setup: openai {OPENAI_VERSION} (python) … ok");
        return Ok(dir);
    }
    let started = Instant::now();
    pip_install(&dir, &format!("openai=={OPENAI_VERSION}"))?;
    if !marker.is_dir() {
        return Err(Error::Unexpected(format!(
            "pip installed openai=={OPENAI_VERSION} into {}, but {} is missing",
            dir.display(),
            marker.display()
        )));
    }
    println!(
        "setup: openai {OPENAI_VERSION} (python) … installed in {}",
        elapsed::human(started.elapsed())
    );
    Ok(dir)
}
