//! Recovery after a collector crash: how soon a gateway serves again once its audit
//! collector is back.
//!
//! jitgate with audit streamed to a real `jitgate collector serve`, at the filter's audit
//! defaults (batches of 100, 10 000 records held per VM, `overflow: deny`: nothing passes
//! that could not be recorded), under `wrk`. Each trial kills the collector with SIGKILL,
//! keeps the load on until the gate refuses with 503 `audit_unavailable` (its buffer full),
//! leaves it down a little longer (so the filter's retry backoff has reached its ceiling, as
//! in any real outage), then starts it again on the same port and data folder. Measured from
//! the moment the restarted collector answers (`/v1/checkpoint/key`, polled every 2 ms): the
//! first 200 at the gateway (a probe request every 2 ms), and "normal" — the start of a whole
//! second in which Envoy refused no request at all. The 503s served meanwhile are counted
//! from Envoy's own 5xx counter: while the collector was down, and after it was back.
//!
//! The smoke run makes one trial with a buffer of two batches and the probe alone as load (its
//! debug collector could not keep up with `wrk`): it checks the statuses, not the times.

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bench::configuration::{jitgate_configuration, streamed_audit, Configuration};
use crate::bench::error::BenchError;
use crate::bench::load::{self, Load};
use crate::bench::pin::{self, Cores};
use crate::bench::plan::Plan;
use crate::bench::stand::{self, LoadFiles, SENDER_CREDENTIAL};
use crate::bench::stats::percentile;
use crate::bench::timeline::{ProbeAnswer, Timeline};
use crate::collector::CollectorProcess;
use crate::envoy::Envoy;
use crate::ports::free_loopback_addr;
use crate::raw_http::{self, RawRequest};

/// The filter's default `audit.batch_max_records` (docs/filter-config.md).
pub const BATCH_RECORDS: u64 = 100;
/// The configuration the trials run: (5)'s filter chain and request, other audit settings.
const CONFIGURATION: Configuration = Configuration::JitgateAudit;
/// How long the gate must serve without a refusal before the collector is killed.
const QUIET: Duration = Duration::from_secs(1);
/// Beyond the first refusal, how long the collector stays down (plus a spread per trial).
const HOLD: Duration = Duration::from_secs(1);
/// A step of a trial that has not happened by then is a failure, not a slow sample.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// Longer than any trial: the background load is killed when the trial ends.
const LOAD_SECONDS: u64 = 600;
/// How often the restarted collector's health is polled.
const HEALTH_GAP: Duration = Duration::from_millis(2);

/// One trial's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryTrial {
    /// Collector killed → the gate's first 503 `audit_unavailable` (its buffer full).
    pub until_full: Duration,
    /// Collector started → answering.
    pub startup: Duration,
    /// Collector answering → first 200 at the gateway.
    pub first_allowed: Duration,
    /// Collector answering → start of a second without any refusal.
    pub normal: Duration,
    /// 5xx answers while the collector was down (kill → answering).
    pub refused_while_down: u64,
    /// 5xx answers after it answered again.
    pub refused_after: u64,
}

/// The trials' figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryFigures {
    /// One per trial.
    pub trials: Vec<RecoveryTrial>,
    /// Records a VM held unacknowledged at most.
    pub buffer_records: u64,
    /// Concurrent connections of the `wrk` load (0: the probe alone).
    pub connections: u32,
    /// Why the trials stopped early, when they did.
    pub problem: Option<String>,
}

impl RecoveryFigures {
    /// The median (nearest rank) of one duration over the trials.
    pub fn median(&self, figure: impl Fn(&RecoveryTrial) -> Duration) -> Option<Duration> {
        let values: Vec<Duration> = self.trials.iter().map(figure).collect();
        percentile(&values, 50.0)
    }

    /// The largest of one duration over the trials.
    pub fn max(&self, figure: impl Fn(&RecoveryTrial) -> Duration) -> Option<Duration> {
        self.trials.iter().map(figure).max()
    }

    /// The median and largest of one count over the trials.
    pub fn counts(&self, figure: impl Fn(&RecoveryTrial) -> u64) -> Option<(u64, u64)> {
        let mut values: Vec<u64> = self.trials.iter().map(figure).collect();
        values.sort_unstable();
        let median = values.get(values.len().saturating_sub(1) / 2).copied()?;
        Some((median, values.last().copied()?))
    }
}

/// Runs the trials against a fresh collector and Envoy.
pub fn measure(plan: &Plan) -> Result<RecoveryFigures, BenchError> {
    let temp = || {
        tempfile::Builder::new()
            .prefix("jitgate-bench-recovery-")
            .tempdir()
            .map_err(BenchError::file(std::env::temp_dir()))
    };
    let collector_dir = temp()?;
    let files = LoadFiles::write(temp()?, 0)?;
    let mut collector = stand::start_collector(collector_dir.path())?;
    let envoy = start_envoy(plan, collector.addr())?;
    let cores = Cores::pick();
    if let Some(cores) = cores {
        pin::pin_process(envoy.pid(), &[cores.envoy])?;
    }
    let token = files.first_token(CONFIGURATION)?;
    let mut figures = RecoveryFigures {
        buffer_records: plan.recovery_buffer_records,
        connections: plan.recovery_connections,
        ..RecoveryFigures::default()
    };
    for trial in 0..plan.recovery_trials {
        let load = Load {
            listener: envoy.listener(),
            script: &files.script,
            tokens: files.tokens_for(CONFIGURATION),
            request: CONFIGURATION.request(),
            connections: plan.recovery_connections,
            duration: Duration::from_secs(LOAD_SECONDS),
            core: cores.map(|cores| cores.load),
        };
        let background = if plan.recovery_connections > 0 {
            Some(Background(load::spawn(&load)?))
        } else {
            None
        };
        let outcome = one_trial(&mut collector, &envoy, &token, trial);
        drop(background);
        let outcome = outcome.and_then(|result| {
            // Every record the gate allowed is delivered before the next trial's load.
            stand::wait_for_acknowledged(&envoy, STEP_LIMIT)
                .map_err(|problem| recovery_error(format!("after trial {trial}: {problem}")))?;
            Ok(result)
        });
        match outcome {
            Ok(result) => {
                eprintln!(
                    "bench: recovery trial {trial}: full after {:.0} ms, collector up in {:.0} ms, first 200 after {:.1} ms, normal after {:.0} ms; 503s {} while down, {} after",
                    ms(result.until_full),
                    ms(result.startup),
                    ms(result.first_allowed),
                    ms(result.normal),
                    result.refused_while_down,
                    result.refused_after
                );
                figures.trials.push(result);
            }
            Err(error) if plan.smoke => return Err(error),
            Err(error) => {
                eprintln!("bench: {error}");
                figures.problem = Some(error.to_string());
                break;
            }
        }
    }
    Ok(figures)
}

/// (5)'s Envoy with the filter's default audit settings (the buffer as the plan says).
fn start_envoy(plan: &Plan, collector: SocketAddr) -> Result<Envoy, BenchError> {
    let mut spec = CONFIGURATION.spec(
        &plan.jitgate_wasm,
        &plan.noop_wasm,
        free_loopback_addr()?,
        collector,
        SENDER_CREDENTIAL,
    );
    let mut audit = streamed_audit(
        SENDER_CREDENTIAL,
        BATCH_RECORDS,
        plan.recovery_buffer_records,
    );
    // The default, written out: the measurement is about what `deny` costs.
    audit["overflow"] = json!("deny");
    spec.filter.plugin_configuration = jitgate_configuration(Some(audit)).to_string();
    Ok(Envoy::start(&spec)?)
}

fn one_trial(
    collector: &mut CollectorProcess,
    envoy: &Envoy,
    token: &str,
    trial: u32,
) -> Result<RecoveryTrial, BenchError> {
    let authorization = format!("Bearer {token}");
    let headers = [("authorization", authorization.as_str())];
    let request = CONFIGURATION.request();
    let probe = RawRequest {
        method: request.method,
        target: request.path,
        headers: &headers,
        body: &[],
    };
    let timeline = Timeline::default();
    std::thread::scope(|scope| {
        scope.spawn(|| timeline.probe(envoy, probe));
        scope.spawn(|| timeline.sample(envoy));
        let result = control(collector, &timeline, trial, scope);
        timeline.stop();
        result
    })
}

/// The trial's steps, while the probe and the sampler record.
fn control<'scope>(
    collector: &mut CollectorProcess,
    timeline: &'scope Timeline,
    trial: u32,
    scope: &'scope std::thread::Scope<'scope, '_>,
) -> Result<RecoveryTrial, BenchError> {
    let started = Instant::now();
    wait_for(
        "the gate to serve a second without refusals before the collector is killed (is the collector slower than the load?)",
        || quiet_since(timeline, started).then_some(()),
    )?;
    let killed = Instant::now();
    collector.kill();
    let full = wait_for("the gate to refuse with 503 audit_unavailable", || {
        timeline.first_answer(killed, |answer| answer.status != 200)
    })?;
    expect_audit_unavailable(&full)?;
    // Spread the restarts over the filter's retry cycle instead of locking onto one phase.
    std::thread::sleep(HOLD + Duration::from_millis(u64::from(trial) * 137 % 1000));

    let addr = collector.addr();
    let health = scope.spawn(move || first_healthy(addr));
    let restarted = Instant::now();
    collector.restart()?;
    let healthy = health
        .join()
        .ok()
        .flatten()
        .ok_or_else(|| recovery_error("the collector restarted but never answered".into()))?;
    let allowed = wait_for("the gate to serve a 200 again", || {
        timeline.first_answer(restarted, |answer| answer.status == 200)
    })?;
    wait_for("the gate to serve a second without refusals", || {
        quiet_since(timeline, restarted).then_some(())
    })?;
    let (final_count, last_refusal) = timeline
        .errors_settled()
        .ok_or_else(|| recovery_error("no 5xx count read from Envoy".into()))?;
    let count = |at| timeline.errors_at(at).unwrap_or(final_count);
    let refusal_seen = restarted.max(last_refusal);
    Ok(RecoveryTrial {
        until_full: full.at.saturating_duration_since(killed),
        startup: healthy.saturating_duration_since(restarted),
        first_allowed: allowed.at.saturating_duration_since(healthy),
        normal: allowed
            .at
            .max(refusal_seen)
            .saturating_duration_since(healthy),
        refused_while_down: count(healthy).saturating_sub(count(killed)),
        refused_after: final_count.saturating_sub(count(healthy)),
    })
}

/// Whether Envoy has refused nothing for the last [`QUIET`] (and `since` is at least that
/// long ago, so the samples cover it), and the probe's latest answer is a 200.
fn quiet_since(timeline: &Timeline, since: Instant) -> bool {
    let settled = timeline
        .errors_settled()
        .is_some_and(|(_, from)| from.elapsed() >= QUIET);
    let serving = timeline
        .last_answer()
        .is_some_and(|answer| answer.status == 200);
    settled && serving && since.elapsed() >= QUIET
}

/// A refusal during the outage must be the one `deny` gives; anything else is a broken trial.
fn expect_audit_unavailable(answer: &ProbeAnswer) -> Result<(), BenchError> {
    if answer.status == 503 && answer.reason == "audit_unavailable" {
        Ok(())
    } else {
        Err(recovery_error(format!(
            "with the collector down the gate answered {} {} instead of 503 audit_unavailable",
            answer.status, answer.reason
        )))
    }
}

/// When the collector at `addr` first answers its health request; `None` after the step
/// limit.
fn first_healthy(addr: SocketAddr) -> Option<Instant> {
    let started = Instant::now();
    while started.elapsed() < STEP_LIMIT {
        if raw_http::send(addr, RawRequest::get("/v1/checkpoint/key"))
            .is_ok_and(|response| response.status == 200)
        {
            return Some(Instant::now());
        }
        std::thread::sleep(HEALTH_GAP);
    }
    None
}

/// Polls `check` every 5 ms until it yields, or fails naming `what` after the step limit.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T, BenchError> {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if started.elapsed() > STEP_LIMIT {
            return Err(recovery_error(format!(
                "waited {} s for {what}",
                STEP_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn recovery_error(problem: String) -> BenchError {
    BenchError::Recovery(problem)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A load generator running in the background, killed (SIGKILL) when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
