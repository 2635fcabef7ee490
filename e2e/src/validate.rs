//! `envoy --mode validate`: does Envoy accept a bootstrap, without serving anything?
//!
//! Envoy loads the `.wasm` while validating (a missing file is an error), so run it with the
//! filter built. Runs in the repository root, where `envoy/envoy.yaml`'s relative path
//! resolves, unless given another working directory.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::paths::{envoy_binary, repo_root};
use crate::wait::wait_for_exit;

/// Validation of a config that references a Wasm module takes well under a second; this only
/// bounds a hang.
pub const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks a bootstrap file with `envoy --mode validate`, run in the repository root.
pub fn validate(config: &Path) -> Result<()> {
    validate_in(config, &repo_root())
}

/// Checks a bootstrap file with `envoy --mode validate`, run in `working_dir` (against which
/// relative paths in the config resolve).
pub fn validate_in(config: &Path, working_dir: &Path) -> Result<()> {
    let envoy = envoy_binary()?;
    let scratch = tempfile::tempdir().map_err(Error::io("create a temp dir"))?;
    let output_path = scratch.path().join("validate.log");
    let output = File::create(&output_path).map_err(Error::io("create validate.log"))?;
    let stderr = output
        .try_clone()
        .map_err(Error::io("share validate.log"))?;
    let mut child = Command::new(&envoy)
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(config)
        .current_dir(working_dir)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(stderr)
        .spawn()
        .map_err(Error::io(format!("run {}", envoy.display())))?;
    let status = wait_for_exit(&mut child, VALIDATE_TIMEOUT)?;
    if status.is_none() {
        child
            .kill()
            .map_err(Error::io("kill a hung envoy --mode validate"))?;
        child
            .wait()
            .map_err(Error::io("reap envoy --mode validate"))?;
    }
    let output = std::fs::read_to_string(&output_path).map_err(Error::io("read validate.log"))?;
    match status {
        Some(status) if status.success() => Ok(()),
        _ => Err(Error::ConfigRejected {
            path: config.to_path_buf(),
            output,
        }),
    }
}

/// Checks bootstrap YAML text with `envoy --mode validate`.
pub fn validate_yaml(yaml: &str) -> Result<()> {
    let scratch = tempfile::tempdir().map_err(Error::io("create a temp dir"))?;
    let config = scratch.path().join("envoy.yaml");
    std::fs::write(&config, yaml).map_err(Error::io("write the config to validate"))?;
    validate(&config)
}
