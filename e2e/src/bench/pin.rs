//! CPU pinning with `taskset`: Envoy's threads on one core, the load generator (and this
//! process, the collector and anything else it starts) on the other, so the two never take
//! turns on one core. On a machine with fewer than two cores nothing is pinned, and the
//! report says so.

use std::process::Command;

use crate::bench::error::BenchError;

/// Which cores do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cores {
    /// Envoy's main thread and its one worker.
    pub envoy: usize,
    /// `wrk`, this runner, the collector and the issuer.
    pub load: usize,
}

impl Cores {
    /// Core 0 for Envoy and core 1 for the rest, when there are at least two.
    pub fn pick() -> Option<Cores> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores >= 2).then_some(Cores { envoy: 0, load: 1 })
    }
}

/// Moves every thread of process `pid` onto `core`.
pub fn pin_process(pid: u32, core: usize) -> Result<(), BenchError> {
    taskset(&["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
}

/// Moves this process (its main thread, before any other is started) onto `core`; threads
/// and children started afterwards inherit it.
pub fn pin_self(core: usize) -> Result<(), BenchError> {
    taskset(&[
        "-a",
        "-p",
        "-c",
        &core.to_string(),
        &std::process::id().to_string(),
    ])
}

fn taskset(args: &[&str]) -> Result<(), BenchError> {
    let output =
        Command::new("taskset")
            .args(args)
            .output()
            .map_err(|_| BenchError::ToolMissing {
                tool: "taskset".into(),
                hint: "install util-linux".into(),
            })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::ToolFailed {
            tool: format!("taskset {}", args.join(" ")),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
