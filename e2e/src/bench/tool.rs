//! Running a load generator (`wrk`, `h2load`) once: a missing tool names its package, a failed
//! run shows its exit status and output, and a successful one hands back its stdout to parse.

use std::process::Command;

use crate::bench::error::BenchError;

/// Runs `command` (the tool `tool`, from Debian package `package`) and returns its stdout.
pub fn stdout_of(tool: &str, package: &str, mut command: Command) -> Result<String, BenchError> {
    let output = command.output().map_err(|_| BenchError::ToolMissing {
        tool: tool.into(),
        hint: format!("run `cargo xtask setup` as root (Debian package `{package}`)"),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(failed(
            tool,
            format!(
                "{}: {}{}",
                output.status,
                stdout.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(stdout)
}

/// The tool ran but its output is not what the harness reads.
pub fn failed(tool: &str, detail: String) -> BenchError {
    BenchError::ToolFailed {
        tool: tool.into(),
        detail,
    }
}
