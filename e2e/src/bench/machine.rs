//! The machine and tool versions a run happened on, for the report: figures from another
//! machine are not comparable, and a reader must be able to tell.

use std::process::Command;

use crate::bench::h2load::h2load_version;
use crate::bench::load::wrk_version;
use crate::bench::plan::Plan;
use crate::paths::{envoy_binary, repo_root};

/// Where and with what a run happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// When the run started (UTC).
    pub date: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Total memory.
    pub memory: String,
    /// `uname -sr`.
    pub kernel: String,
    /// `/proc/loadavg` at the start: other work on the machine skews every figure.
    pub load_average: String,
    /// `envoy --version`.
    pub envoy: String,
    /// `wrk -v`.
    pub wrk: String,
    /// `h2load --version`.
    pub h2load: String,
    /// `rustc -V`.
    pub rustc: String,
    /// The commit measured (with `-dirty` if the tree had changes).
    pub commit: String,
}

impl Machine {
    /// Reads everything it can; what cannot be read is reported as `unknown`.
    pub fn describe(_plan: &Plan) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_once(':'))
                .map(|(_, value)| value.trim().to_owned())
        };
        let envoy = envoy_binary()
            .ok()
            .and_then(|binary| run(binary.to_string_lossy().as_ref(), &["--version"]))
            .and_then(|text| {
                // `…/envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`
                text.split_once("version: ")
                    .map(|(_, version)| version.trim().to_owned())
            });
        Machine {
            date: run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(unknown),
            cpu: field(&cpuinfo, "model name").unwrap_or_else(unknown),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory: field(&meminfo, "MemTotal").unwrap_or_else(unknown),
            kernel: run("uname", &["-sr"]).unwrap_or_else(unknown),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|text| {
                    text.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|_| unknown()),
            envoy: envoy.unwrap_or_else(unknown),
            wrk: wrk_version().unwrap_or_else(unknown),
            h2load: h2load_version().unwrap_or_else(unknown),
            rustc: run("rustc", &["-V"]).unwrap_or_else(unknown),
            commit: run_in_repo("git", &["describe", "--always", "--dirty"])
                .unwrap_or_else(unknown),
        }
    }
}

fn unknown() -> String {
    "unknown".to_owned()
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    output(Command::new(program).args(args))
}

fn run_in_repo(program: &str, args: &[&str]) -> Option<String> {
    output(Command::new(program).args(args).current_dir(repo_root()))
}

fn output(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}
