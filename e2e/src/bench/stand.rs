//! The test stand the throughput measurements share: one Envoy per configuration (all started
//! up front and pinned), the collector configuration (5) streams its audit to, and the files
//! the load generators read (tokens, the `wrk` script, the body-scoped request's body).
//!
//! The HTTP/1.1 and HTTP/2 rounds run against the same stand (the same processes, so the same
//! memory layout and JIT state); the two-worker run builds a second one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bench::configuration::Configuration;
use crate::bench::error::BenchError;
use crate::bench::load::{self, Load};
use crate::bench::pin::{self, Cores};
use crate::bench::plan::Plan;
use crate::bench::tokens;
use crate::collector::{CollectorProcess, CollectorSender, FILTER_SERVICE_NAME};
use crate::envoy::Envoy;
use crate::ports::free_loopback_addr;
use crate::raw_http::RawRequest;

/// The filter's credential at the collector; test-only, like everything in a bench run.
pub const SENDER_CREDENTIAL: &str = "bench-sender-credential";
/// The collector's reviewer credential (nothing in a bench run reviews).
pub const REVIEWER_CREDENTIAL: &str = "bench-reviewer-credential";
/// How long the collector may take to acknowledge every record after a round.
const AUDIT_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Several of the filter's ticks (250 ms at most): its counts have reached Envoy's stats.
const COUNTER_CATCH_UP: Duration = Duration::from_secs(2);

/// How Envoy's threads are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// One worker, every Envoy thread on the Envoy core: the load core is the load's alone.
    OwnCore,
    /// Envoy may use every core (its workers need more than one); the load generator stays
    /// on the load core and shares it with a worker.
    AllCores,
}

/// The files the load needs, in a temp dir that lives as long as the stand.
pub struct LoadFiles {
    _dir: tempfile::TempDir,
    /// `bench/wrk/request.lua`, written out.
    pub script: PathBuf,
    one_token: PathBuf,
    budgeted_token: PathBuf,
    fresh_tokens: PathBuf,
    body: PathBuf,
}

impl LoadFiles {
    /// Writes them into `dir`; `fresh` distinct tokens are minted only when a configuration
    /// that needs them is measured (minting thousands in a debug build takes seconds).
    pub fn write(dir: tempfile::TempDir, fresh: usize) -> Result<LoadFiles, BenchError> {
        let script = dir.path().join("request.lua");
        std::fs::write(&script, load::WRK_SCRIPT).map_err(BenchError::file(&script))?;
        let one_token = dir.path().join("one-token.txt");
        tokens::write_token_file(&one_token, &[tokens::bench_token("bench-cached")])?;
        let budgeted_token = dir.path().join("budgeted-token.txt");
        tokens::write_token_file(
            &budgeted_token,
            &[tokens::budgeted_bench_token("bench-budgeted")],
        )?;
        let fresh_tokens = dir.path().join("fresh-tokens.txt");
        if fresh > 0 {
            let started = Instant::now();
            tokens::write_token_file(
                &fresh_tokens,
                &tokens::distinct_tokens("bench-fresh", fresh),
            )?;
            eprintln!(
                "bench: minted {fresh} distinct tokens in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let body = dir.path().join("body.json");
        let request = Configuration::JitgateBodyScope.request();
        std::fs::write(&body, request.body).map_err(BenchError::file(&body))?;
        Ok(LoadFiles {
            _dir: dir,
            script,
            one_token,
            budgeted_token,
            fresh_tokens,
            body,
        })
    }

    /// The token file `configuration`'s load cycles through.
    pub fn tokens_for(&self, configuration: Configuration) -> &Path {
        if configuration.fresh_tokens() {
            &self.fresh_tokens
        } else if configuration.budgeted() {
            &self.budgeted_token
        } else {
            &self.one_token
        }
    }

    /// The first token of `configuration`'s file.
    pub fn first_token(&self, configuration: Configuration) -> Result<String, BenchError> {
        let path = self.tokens_for(configuration);
        let tokens = std::fs::read_to_string(path).map_err(BenchError::file(path))?;
        Ok(tokens.lines().next().unwrap_or_default().to_owned())
    }

    /// The file holding `configuration`'s request body, when it has one.
    pub fn body_for(&self, configuration: Configuration) -> Option<&Path> {
        (!configuration.request().body.is_empty()).then_some(self.body.as_path())
    }
}

/// Running Envoys, the collector they stream to, and the load's files. Fields drop in
/// order: the Envoys, then the collector, then the folder both keep their data in.
pub struct Stand {
    /// The Envoys, in [`Configuration::ALL`] order.
    pub envoys: Vec<(Configuration, Envoy)>,
    _collector: CollectorProcess,
    /// What the load generators read.
    pub files: LoadFiles,
    /// How the cores were split (`None`: fewer than two, nothing pinned).
    pub cores: Option<Cores>,
    /// Envoy worker threads each.
    pub workers: u32,
}

impl Stand {
    /// Starts the collector and one Envoy of `workers` workers per configuration, placed as
    /// `placement` says, each checked with one request.
    pub fn start(
        plan: &Plan,
        configurations: &[Configuration],
        workers: u32,
        placement: Placement,
    ) -> Result<Stand, BenchError> {
        let cores = Cores::pick();
        let dir = tempfile::Builder::new()
            .prefix("jitgate-bench-")
            .tempdir()
            .map_err(BenchError::file(std::env::temp_dir()))?;
        let collector_dir = dir.path().join("collector");
        std::fs::create_dir_all(&collector_dir).map_err(BenchError::file(&collector_dir))?;
        let fresh = if configurations.iter().any(|c| c.fresh_tokens()) {
            plan.fresh_tokens
        } else {
            0
        };
        let files = LoadFiles::write(dir, fresh)?;
        // Every configuration's Envoy is one gateway deployment to the collector (the
        // filter's default service name), sharing its credential.
        let collector = start_collector(&collector_dir)?;
        let mut envoys = Vec::new();
        for &configuration in configurations {
            let mut spec = configuration.spec(
                &plan.jitgate_wasm,
                &plan.noop_wasm,
                free_loopback_addr()?,
                collector.addr(),
                SENDER_CREDENTIAL,
            );
            spec.options.concurrency = workers;
            let envoy = Envoy::start(&spec)?;
            if let Some(cores) = cores {
                // Envoy was started by this process, pinned to the load core: move it.
                match placement {
                    Placement::OwnCore => pin::pin_process(envoy.pid(), &[cores.envoy])?,
                    Placement::AllCores => {
                        pin::pin_process(envoy.pid(), &[cores.envoy, cores.load])?;
                    }
                }
            }
            probe(configuration, &envoy, &files)?;
            envoys.push((configuration, envoy));
        }
        eprintln!(
            "bench: {} Envoys of {workers} worker(s) ready",
            envoys.len()
        );
        Ok(Stand {
            envoys,
            _collector: collector,
            files,
            cores,
            workers,
        })
    }

    /// A `wrk` run of `duration` against `configuration`'s Envoy.
    pub fn wrk_load<'a>(
        &'a self,
        plan: &Plan,
        configuration: Configuration,
        envoy: &'a Envoy,
        duration: Duration,
    ) -> Load<'a> {
        Load {
            listener: envoy.listener(),
            script: &self.files.script,
            tokens: self.files.tokens_for(configuration),
            request: configuration.request(),
            connections: plan.connections,
            duration,
            core: self.cores.map(|cores| cores.load),
        }
    }
}

/// One request before any load: it must be a 200, or the configuration is broken and the
/// figures would measure refusals.
fn probe(configuration: Configuration, envoy: &Envoy, files: &LoadFiles) -> Result<(), BenchError> {
    let authorization = format!("Bearer {}", files.first_token(configuration)?);
    let request = configuration.request();
    let mut headers = vec![("authorization", authorization.as_str())];
    if !request.body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    let response = envoy.raw(RawRequest {
        method: request.method,
        target: request.path,
        headers: &headers,
        body: request.body.as_bytes(),
    })?;
    if response.status == 200 {
        Ok(())
    } else {
        Err(BenchError::Unexpected {
            configuration: configuration.number().to_string(),
            problem: format!(
                "the first request got {} instead of 200: {}",
                response.status,
                response.text()
            ),
        })
    }
}

/// The collector every audited configuration streams to: one gateway sender (the filter's
/// default service name) and the bench's reviewer, data in `dir`.
pub fn start_collector(dir: &Path) -> Result<CollectorProcess, BenchError> {
    Ok(CollectorProcess::start(
        dir,
        free_loopback_addr()?,
        &[CollectorSender::gateway(
            FILTER_SERVICE_NAME,
            SENDER_CREDENTIAL,
        )],
        REVIEWER_CREDENTIAL,
    )?)
}

/// Every request the load generators counted as served was allowed by the gate (not passed
/// around it), and with audit on, the collector acknowledged a record for each.
///
/// Each VM adds its counts to Envoy's stats on its next tick, so right after a round the
/// counters may lag what was served: they get a few ticks to catch up.
pub fn check_gate(
    configuration: Configuration,
    envoy: &Envoy,
    served: u64,
) -> Result<(), BenchError> {
    let started = Instant::now();
    loop {
        match gate_problem(configuration, envoy, served)? {
            None => return Ok(()),
            Some(problem) if started.elapsed() > COUNTER_CATCH_UP => {
                return Err(BenchError::Unexpected {
                    configuration: format!(
                        "({}) {}",
                        configuration.number(),
                        configuration.label()
                    ),
                    problem,
                })
            }
            Some(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn gate_problem(
    configuration: Configuration,
    envoy: &Envoy,
    served: u64,
) -> Result<Option<String>, BenchError> {
    if configuration.is_jitgate() {
        let allowed = stat(envoy, "jitgate_allowed")?;
        if allowed < served {
            return Ok(Some(format!(
                "the gate allowed {allowed} requests but {served} were served"
            )));
        }
    }
    if configuration.streams_audit() {
        let sent = stat(envoy, "jitgate_audit_sent")?;
        let allowed = stat(envoy, "jitgate_allowed")?;
        if sent < allowed {
            return Ok(Some(format!(
                "the collector acknowledged {sent} audit records for {allowed} allowed requests"
            )));
        }
    }
    Ok(None)
}

/// Audit records the collector has acknowledged so far, for configurations that stream them.
pub fn audit_sent(configuration: Configuration, envoy: &Envoy) -> Result<Option<u64>, BenchError> {
    if configuration.streams_audit() {
        stat(envoy, "jitgate_audit_sent").map(Some)
    } else {
        Ok(None)
    }
}

/// Waits until the collector has acknowledged a record for every request the gate allowed.
pub fn wait_for_audit(configuration: Configuration, envoy: &Envoy) -> Result<(), BenchError> {
    if !configuration.streams_audit() {
        return Ok(());
    }
    wait_for_acknowledged(envoy, AUDIT_DRAIN_TIMEOUT).map_err(|problem| BenchError::Unexpected {
        configuration: configuration.number().to_string(),
        problem,
    })
}

/// Waits until `envoy`'s collector has acknowledged a record for every allowed request; what
/// was still missing after `timeout` otherwise.
pub fn wait_for_acknowledged(envoy: &Envoy, timeout: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let counts = stat(envoy, "jitgate_audit_sent")
            .and_then(|sent| stat(envoy, "jitgate_allowed").map(|allowed| (sent, allowed)));
        match counts {
            Ok((sent, allowed)) if sent >= allowed => return Ok(()),
            Ok((sent, allowed)) if started.elapsed() > timeout => {
                return Err(format!(
                    "after {} s the collector had acknowledged {sent} of {allowed} records",
                    timeout.as_secs()
                ))
            }
            Err(error) => return Err(error.to_string()),
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A counter summed over every sample whose name is `name` or ends in `_<name>` (Envoy may
/// prefix Wasm-defined stats, e.g. `envoy_wasmcustom_`); 0 when there is none yet.
pub fn stat(envoy: &Envoy, name: &str) -> Result<u64, BenchError> {
    let suffix = format!("_{name}");
    let total = envoy
        .stats()?
        .samples()
        .iter()
        .filter(|sample| sample.name == name || sample.name.ends_with(&suffix))
        .map(|sample| sample.value)
        .sum::<f64>();
    Ok(total.max(0.0) as u64)
}

/// `VmRSS` of a process, in KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
