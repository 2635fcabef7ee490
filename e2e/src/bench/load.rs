//! The load generator: `wrk` (one thread, keep-alive HTTP/1.1) running `bench/wrk/request.lua`
//! against Envoy's listener, pinned to the load core, and the figures it prints.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::bench::configuration::BenchRequest;
use crate::bench::error::BenchError;
use crate::bench::{pin, tool};

/// The script every configuration's load runs through.
pub const WRK_SCRIPT: &str = include_str!("../../../bench/wrk/request.lua");

/// How long `wrk` waits for one response before counting a timeout.
const RESPONSE_TIMEOUT: &str = "5s";

/// One load run.
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    /// Envoy's listener.
    pub listener: SocketAddr,
    /// `bench/wrk/request.lua`, written out.
    pub script: &'a Path,
    /// Tokens, one per line.
    pub tokens: &'a Path,
    /// What to send.
    pub request: BenchRequest,
    /// Open connections.
    pub connections: u32,
    /// How long (whole seconds; at least one).
    pub duration: Duration,
    /// The core to pin `wrk` to.
    pub core: Option<usize>,
}

/// Connection-level and status failures `wrk` counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadErrors {
    /// Failed connects.
    pub connect: u64,
    /// Failed reads.
    pub read: u64,
    /// Failed writes.
    pub write: u64,
    /// Responses outside 2xx/3xx.
    pub status: u64,
    /// Responses that took longer than the timeout.
    pub timeout: u64,
}

impl LoadErrors {
    /// All of them together.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.status + self.timeout
    }
}

/// What one load run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadResult {
    /// Completed requests.
    pub requests: u64,
    /// How long the run took, as `wrk` measured it.
    pub duration: Duration,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Failures.
    pub errors: LoadErrors,
}

impl LoadResult {
    /// Completed requests per second.
    pub fn requests_per_second(&self) -> f64 {
        let seconds = self.duration.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }
}

/// `wrk`'s version line, e.g. `wrk 4.1.0 [epoll] …`.
pub fn wrk_version() -> Option<String> {
    // `wrk -v` prints its version and usage, then exits non-zero.
    let output = Command::new("wrk").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    text.lines().next().map(|line| line.trim().to_owned())
}

/// Runs `wrk` once and parses its result line.
pub fn run(load: &Load<'_>) -> Result<LoadResult, BenchError> {
    let stdout = tool::stdout_of("wrk", "wrk", command(load))?;
    parse_result(&stdout)
        .ok_or_else(|| tool::failed("wrk", format!("no result line in: {}", stdout.trim())))
}

/// Starts `wrk` in the background, its output discarded: load that runs while something
/// else is measured, and is killed when that is done.
pub fn spawn(load: &Load<'_>) -> Result<Child, BenchError> {
    command(load)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| missing())
}

fn command(load: &Load<'_>) -> Command {
    let seconds = load.duration.as_secs().max(1);
    let mut command = pin::command_on(load.core, "wrk");
    command
        .args(["-t1", &format!("-c{}", load.connections)])
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", RESPONSE_TIMEOUT, "-s"])
        .arg(load.script)
        .arg(format!("http://{}{}", load.listener, load.request.path))
        .arg("--")
        .arg(load.tokens)
        .args([load.request.method, load.request.path, load.request.body]);
    command
}

fn missing() -> BenchError {
    BenchError::ToolMissing {
        tool: "wrk".into(),
        hint: "run `cargo xtask setup` as root (Debian package `wrk`)".into(),
    }
}

/// Parses the `JITGATE_BENCH key=value …` line the script's `done` prints.
fn parse_result(stdout: &str) -> Option<LoadResult> {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("JITGATE_BENCH "))?;
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some(LoadResult {
        requests: field("requests")?,
        duration: Duration::from_micros(field("duration_us")?),
        p50: Duration::from_micros(field("p50_us")?),
        p99: Duration::from_micros(field("p99_us")?),
        errors: LoadErrors {
            connect: field("connect")?,
            read: field("read")?,
            write: field("write")?,
            status: field("status")?,
            timeout: field("timeout")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_scripts_result_line_among_wrks_output() {
        let stdout = "Running 1s test @ http://127.0.0.1:1/x\n  1 threads and 4 connections\n\
            JITGATE_BENCH requests=1200 duration_us=1000500 p50_us=310 p99_us=2100 \
            connect=0 read=1 write=0 status=3 timeout=0\n";
        let result = parse_result(stdout);
        assert_eq!(
            result,
            Some(LoadResult {
                requests: 1200,
                duration: Duration::from_micros(1_000_500),
                p50: Duration::from_micros(310),
                p99: Duration::from_micros(2100),
                errors: LoadErrors {
                    read: 1,
                    status: 3,
                    ..LoadErrors::default()
                },
            })
        );
        assert_eq!(result.map(|r| r.errors.total()), Some(4));
    }

    #[test]
    fn output_without_the_result_line_is_not_a_result() {
        assert_eq!(parse_result("Running 1s test\n"), None);
        assert_eq!(parse_result("JITGATE_BENCH requests=x\n"), None);
    }
}
