//! CPU pinning with `taskset`: Envoy's threads on one core, the load generator (and this
//! process, the collector and anything else it starts) on the other, so the two never take
//! turns on one core. On a machine with fewer than two cores nothing is pinned, and the
//! report says so.

use std::process::Command;
use std::sync::OnceLock;

use crate::bench::error::BenchError;

/// Which cores do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cores {
    /// Envoy's main thread and its one worker.
    pub envoy: usize,
    /// `wrk`, `h2load`, this runner, the collector and the issuer.
    pub load: usize,
}

impl Cores {
    /// Core 0 for Envoy and core 1 for the rest, when there are at least two.
    ///
    /// Decided once, on the first call (before [`pin_self`]): afterwards this process may
    /// run on one core only, and asking again would say there is just one.
    pub fn pick() -> Option<Cores> {
        static PICKED: OnceLock<Option<Cores>> = OnceLock::new();
        *PICKED.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            (cores >= 2).then_some(Cores { envoy: 0, load: 1 })
        })
    }
}

/// Moves every thread of process `pid` onto `cores` (the kernel places each among them).
pub fn pin_process(pid: u32, cores: &[usize]) -> Result<(), BenchError> {
    taskset(&["-a", "-p", "-c", &core_list(cores), &pid.to_string()])
}

/// `0,1` for `[0, 1]`: taskset's list form.
pub fn core_list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
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

/// `program`, run on `core` through `taskset` when there is one to pin it to.
pub fn command_on(core: Option<usize>, program: &str) -> Command {
    match core {
        Some(core) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &core.to_string(), program]);
            taskset
        }
        None => Command::new(program),
    }
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
