//! The throughput comparison: one Envoy per configuration (all started up front, each pinned
//! to the Envoy core), then interleaved rounds — every configuration once per round, in the
//! same order — so that whatever else the machine does drifts across all of them alike.
//!
//! After the rounds each configuration is checked for the statuses it should have served
//! (all 200, every jitgate request allowed by the gate, every audit record acknowledged by
//! the collector) and its Envoy's memory is read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bench::configuration::Configuration;
use crate::bench::error::BenchError;
use crate::bench::load::{self, Load, LoadResult};
use crate::bench::pin::{self, Cores};
use crate::bench::plan::Plan;
use crate::bench::stats::median;
use crate::bench::tokens;
use crate::collector::{CollectorProcess, CollectorSender, FILTER_SERVICE_NAME};
use crate::envoy::Envoy;
use crate::ports::free_loopback_addr;
use crate::raw_http::RawRequest;

/// The filter's credential at the collector; test-only, like everything in a bench run.
const SENDER_CREDENTIAL: &str = "bench-sender-credential";
const REVIEWER_CREDENTIAL: &str = "bench-reviewer-credential";
/// How long the collector may take to acknowledge every record after a round.
const AUDIT_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The throughput figures of every configuration.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// How the cores were split (`None`: fewer than two, nothing pinned).
    pub cores: Option<Cores>,
    /// One entry per configuration, in [`Configuration::ALL`] order.
    pub figures: Vec<ConfigurationFigures>,
}

/// What one configuration measured over all rounds.
#[derive(Debug, Clone)]
pub struct ConfigurationFigures {
    /// Which one.
    pub configuration: Configuration,
    /// One result per round.
    pub rounds: Vec<LoadResult>,
    /// Envoy's resident memory after the rounds, in KiB.
    pub rss_kib: Option<u64>,
    /// jitgate's verification cache hits and misses over the whole run.
    pub cache: Option<(u64, u64)>,
    /// With audit on: records the collector acknowledged per second while each round ran.
    pub audit_acknowledged_per_second: Vec<f64>,
    /// What was wrong with what it served, when something was (a full run reports it; a
    /// smoke run fails on it).
    pub problem: Option<String>,
}

impl ConfigurationFigures {
    /// Median requests per second over the rounds.
    pub fn requests_per_second(&self) -> f64 {
        self.median_of(LoadResult::requests_per_second)
    }

    /// Median of the rounds' median latencies.
    pub fn p50(&self) -> Duration {
        Duration::from_secs_f64(self.median_of(|round| round.p50.as_secs_f64()))
    }

    /// Median of the rounds' 99th percentile latencies.
    pub fn p99(&self) -> Duration {
        Duration::from_secs_f64(self.median_of(|round| round.p99.as_secs_f64()))
    }

    /// Failed requests over all rounds (non-2xx, connection errors, timeouts).
    pub fn errors(&self) -> u64 {
        self.rounds.iter().map(|round| round.errors.total()).sum()
    }

    /// Requests over all rounds.
    pub fn requests(&self) -> u64 {
        self.rounds.iter().map(|round| round.requests).sum()
    }

    fn median_of(&self, figure: impl Fn(&LoadResult) -> f64) -> f64 {
        let values: Vec<f64> = self.rounds.iter().map(figure).collect();
        median(&values).unwrap_or(0.0)
    }
}

/// The files the load needs, in a temp dir that lives as long as the measurement.
struct LoadFiles {
    _dir: tempfile::TempDir,
    script: PathBuf,
    one_token: PathBuf,
    budgeted_token: PathBuf,
    fresh_tokens: PathBuf,
}

impl LoadFiles {
    fn write(dir: tempfile::TempDir, fresh: usize) -> Result<LoadFiles, BenchError> {
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
        let started = Instant::now();
        tokens::write_token_file(
            &fresh_tokens,
            &tokens::distinct_tokens("bench-fresh", fresh),
        )?;
        eprintln!(
            "bench: minted {fresh} distinct tokens in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(LoadFiles {
            _dir: dir,
            script,
            one_token,
            budgeted_token,
            fresh_tokens,
        })
    }

    fn tokens_for(&self, configuration: Configuration) -> &Path {
        if configuration.fresh_tokens() {
            &self.fresh_tokens
        } else if configuration.budgeted() {
            &self.budgeted_token
        } else {
            &self.one_token
        }
    }
}

/// Starts every configuration, runs the rounds and checks what each served.
pub fn measure(plan: &Plan) -> Result<Throughput, BenchError> {
    let cores = Cores::pick();
    if let Some(cores) = cores {
        // Before any thread or child exists, so all of them inherit the load core.
        pin::pin_self(cores.load)?;
    }
    let dir = tempfile::Builder::new()
        .prefix("jitgate-bench-")
        .tempdir()
        .map_err(BenchError::file(std::env::temp_dir()))?;
    let collector_dir = dir.path().join("collector");
    std::fs::create_dir_all(&collector_dir).map_err(BenchError::file(&collector_dir))?;
    let files = LoadFiles::write(dir, plan.fresh_tokens)?;
    // Every configuration's Envoy is one gateway deployment to the collector (the filter's
    // default service name), sharing its credential.
    let collector = CollectorProcess::start(
        &collector_dir,
        free_loopback_addr()?,
        &[CollectorSender::gateway(
            FILTER_SERVICE_NAME,
            SENDER_CREDENTIAL,
        )],
        REVIEWER_CREDENTIAL,
    )?;

    let mut envoys = Vec::new();
    for configuration in Configuration::ALL {
        let spec = configuration.spec(
            &plan.jitgate_wasm,
            &plan.noop_wasm,
            free_loopback_addr()?,
            collector.addr(),
            SENDER_CREDENTIAL,
        );
        let envoy = Envoy::start(&spec)?;
        if let Some(cores) = cores {
            pin::pin_process(envoy.pid(), cores.envoy)?;
        }
        probe(configuration, &envoy, &files)?;
        envoys.push((configuration, envoy));
    }
    eprintln!("bench: {} Envoys ready", envoys.len());

    let load_for = |configuration: Configuration, envoy: &Envoy, duration: Duration| Load {
        listener: envoy.listener(),
        script: &files.script,
        tokens: files.tokens_for(configuration),
        request: configuration.request(),
        connections: plan.connections,
        duration,
        core: cores.map(|cores| cores.load),
    };
    if !plan.warmup.is_zero() {
        for (configuration, envoy) in &envoys {
            load::run(&load_for(*configuration, envoy, plan.warmup))?;
            wait_for_audit(*configuration, envoy)?;
        }
    }
    let mut figures: Vec<ConfigurationFigures> = envoys
        .iter()
        .map(|(configuration, _)| ConfigurationFigures {
            configuration: *configuration,
            rounds: Vec::new(),
            rss_kib: None,
            cache: None,
            audit_acknowledged_per_second: Vec::new(),
            problem: None,
        })
        .collect();
    for round in 1..=plan.rounds {
        for ((configuration, envoy), figure) in envoys.iter().zip(figures.iter_mut()) {
            let acknowledged_before = audit_sent(*configuration, envoy)?;
            let result = load::run(&load_for(*configuration, envoy, plan.duration))?;
            if let Some(before) = acknowledged_before {
                let after = audit_sent(*configuration, envoy)?.unwrap_or(before);
                let seconds = result.duration.as_secs_f64().max(1e-3);
                figure
                    .audit_acknowledged_per_second
                    .push(after.saturating_sub(before) as f64 / seconds);
            }
            eprintln!(
                "bench: round {round}/{} {:<5}{:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  errors {}",
                plan.rounds,
                format!("({})", configuration.number()),
                result.requests_per_second(),
                result.p50.as_secs_f64() * 1e3,
                result.p99.as_secs_f64() * 1e3,
                result.errors.total()
            );
            figure.rounds.push(result);
            // Records still on their way would load the collector during the next
            // configuration's turn; let it catch up first.
            wait_for_audit(*configuration, envoy)?;
        }
    }

    for ((configuration, envoy), figure) in envoys.iter().zip(figures.iter_mut()) {
        match check_served(figure, envoy) {
            Ok(()) => {}
            Err(problem) if plan.smoke => return Err(problem),
            Err(problem) => {
                eprintln!("bench: {problem}");
                figure.problem = Some(problem.to_string());
            }
        }
        figure.rss_kib = resident_kib(envoy.pid());
        if configuration.is_jitgate() {
            figure.cache = Some((
                stat(envoy, "jitgate_cache_hits")?,
                stat(envoy, "jitgate_cache_misses")?,
            ));
        }
    }
    Ok(Throughput { cores, figures })
}

/// One request before any load: it must be a 200, or the configuration is broken and the
/// figures would measure refusals.
fn probe(configuration: Configuration, envoy: &Envoy, files: &LoadFiles) -> Result<(), BenchError> {
    let token_file = files.tokens_for(configuration);
    let tokens = std::fs::read_to_string(token_file).map_err(BenchError::file(token_file))?;
    let authorization = format!("Bearer {}", tokens.lines().next().unwrap_or_default());
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

/// Every request got a 200 and, for jitgate, was allowed by the gate (not passed around it),
/// with one audit record acknowledged by the collector when audit is on.
fn check_served(figure: &ConfigurationFigures, envoy: &Envoy) -> Result<(), BenchError> {
    let configuration = figure.configuration;
    let unexpected = |problem: String| BenchError::Unexpected {
        configuration: format!("({}) {}", configuration.number(), configuration.label()),
        problem,
    };
    let requests = figure.requests();
    if requests == 0 || figure.errors() > 0 {
        let errors: Vec<_> = figure.rounds.iter().map(|round| round.errors).collect();
        return Err(unexpected(format!(
            "{requests} requests, {} failed: {errors:?}",
            figure.errors()
        )));
    }
    if configuration.is_jitgate() {
        let allowed = stat(envoy, "jitgate_allowed")?;
        if allowed < requests {
            return Err(unexpected(format!(
                "the gate allowed {allowed} requests but {requests} were served"
            )));
        }
    }
    if configuration.streams_audit() {
        let sent = stat(envoy, "jitgate_audit_sent")?;
        let allowed = stat(envoy, "jitgate_allowed")?;
        if sent < allowed {
            return Err(unexpected(format!(
                "the collector acknowledged {sent} audit records for {allowed} allowed requests"
            )));
        }
    }
    Ok(())
}

/// Audit records the collector has acknowledged so far, for configurations that stream them.
fn audit_sent(configuration: Configuration, envoy: &Envoy) -> Result<Option<u64>, BenchError> {
    if configuration.streams_audit() {
        stat(envoy, "jitgate_audit_sent").map(Some)
    } else {
        Ok(None)
    }
}

/// Waits until the collector has acknowledged a record for every request the gate allowed.
fn wait_for_audit(configuration: Configuration, envoy: &Envoy) -> Result<(), BenchError> {
    if !configuration.streams_audit() {
        return Ok(());
    }
    let started = Instant::now();
    loop {
        let sent = stat(envoy, "jitgate_audit_sent")?;
        let allowed = stat(envoy, "jitgate_allowed")?;
        if sent >= allowed {
            return Ok(());
        }
        if started.elapsed() > AUDIT_DRAIN_TIMEOUT {
            return Err(BenchError::Unexpected {
                configuration: configuration.number().to_string(),
                problem: format!(
                    "after {} s the collector had acknowledged {sent} of {allowed} records",
                    AUDIT_DRAIN_TIMEOUT.as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A counter summed over every sample whose name is `name` or ends in `_<name>` (Envoy may
/// prefix Wasm-defined stats, e.g. `envoy_wasmcustom_`); 0 when there is none yet.
fn stat(envoy: &Envoy, name: &str) -> Result<u64, BenchError> {
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
fn resident_kib(pid: u32) -> Option<u64> {
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
