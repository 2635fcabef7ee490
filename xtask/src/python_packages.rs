//! Pinned Python packages the tests run for real, each installed with pip into a folder of
//! its own under the tools folder (never into the system Python), to put on `PYTHONPATH`:
//! - the official `openai` client: the README walkthrough calls the gateway with it, and
//!   `sdk_errors` checks what it shows of a refusal;
//! - `standardwebhooks`: the notification tests' receiver checks every signature the issuer
//!   makes with it, an implementation independent of the issuer's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::elapsed;
use crate::error::Error;
use crate::setup::pip_install;

/// A pinned package.
#[derive(Debug, Clone, Copy)]
pub struct PythonPackage {
    /// Its name on PyPI (and its folder under the tools folder).
    pub name: &'static str,
    /// The pinned release.
    pub version: &'static str,
}

/// The `openai` release the walkthrough is tested with.
pub const OPENAI: PythonPackage = PythonPackage {
    name: "openai",
    version: "3.57.0",
};

/// The `standardwebhooks` release the notification tests verify signatures with.
pub const STANDARDWEBHOOKS: PythonPackage = PythonPackage {
    name: "standardwebhooks",
    version: "1.3.0",
};

/// The folder to put on `PYTHONPATH`, installing the package there first if needed.
pub fn ensure(tools_dir: &Path, package: PythonPackage) -> Result<PathBuf, Error> {
    let PythonPackage { name, version } = package;
    let dir = tools_dir.join(name);
    let marker = dir.join(format!("{name}-{version}.dist-info"));
    if marker.is_dir() {
        println!("setup: {name} {version} (python) … ok");
        return Ok(dir);
    }
    let started = Instant::now();
    pip_install(&dir, &format!("{name}=={version}"))?;
    if !marker.is_dir() {
        return Err(Error::Unexpected(format!(
            "pip installed {name}=={version} into {}, but {} is missing",
            dir.display(),
            marker.display()
        )));
    }
    println!(
        "setup: {name} {version} (python) … installed in {}",
        elapsed::human(started.elapsed())
    );
    Ok(dir)
}
