//! The HTTP/1.1 throughput comparison: `wrk` against every Envoy of a [`Stand`], in
//! interleaved rounds — every configuration once per round, in the same order — so that
//! whatever else the machine does drifts across all of them alike.
//!
//! What each configuration served is checked after all rounds (`throughput`), when the
//! HTTP/2 rounds on the same Envoys are done too.

use std::time::Duration;

use crate::bench::configuration::Configuration;
use crate::bench::error::BenchError;
use crate::bench::load::{self, LoadResult};
use crate::bench::pin::Cores;
use crate::bench::plan::Plan;
use crate::bench::stand::{self, Stand};
use crate::bench::stats::median;

/// The throughput figures of every configuration of one stand.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// How the cores were split (`None`: fewer than two, nothing pinned).
    pub cores: Option<Cores>,
    /// Envoy workers (`--concurrency`).
    pub workers: u32,
    /// One entry per configuration, in [`Configuration::ALL`] order.
    pub figures: Vec<ConfigurationFigures>,
}

impl Throughput {
    /// The figures of `configuration`, if it was measured.
    pub fn figures(&self, configuration: Configuration) -> Option<&ConfigurationFigures> {
        self.figures
            .iter()
            .find(|figure| figure.configuration == configuration)
    }
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

/// Warms up, then runs the interleaved rounds over every Envoy of the stand.
pub fn measure(plan: &Plan, stand: &Stand) -> Result<Vec<ConfigurationFigures>, BenchError> {
    if !plan.warmup.is_zero() {
        for (configuration, envoy) in &stand.envoys {
            load::run(&stand.wrk_load(plan, *configuration, envoy, plan.warmup))?;
            stand::wait_for_audit(*configuration, envoy)?;
        }
    }
    let mut figures: Vec<ConfigurationFigures> = stand
        .envoys
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
        for ((configuration, envoy), figure) in stand.envoys.iter().zip(figures.iter_mut()) {
            let acknowledged_before = stand::audit_sent(*configuration, envoy)?;
            let result = load::run(&stand.wrk_load(plan, *configuration, envoy, plan.duration))?;
            if let Some(before) = acknowledged_before {
                let after = stand::audit_sent(*configuration, envoy)?.unwrap_or(before);
                let seconds = result.duration.as_secs_f64().max(1e-3);
                figure
                    .audit_acknowledged_per_second
                    .push(after.saturating_sub(before) as f64 / seconds);
            }
            eprintln!(
                "bench: {}w round {round}/{} {:<5}{:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  errors {}",
                stand.workers,
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
            stand::wait_for_audit(*configuration, envoy)?;
        }
    }
    Ok(figures)
}

/// Every request `wrk` sent got a 2xx (no status, connection or timeout errors).
pub fn check_statuses(figure: &ConfigurationFigures) -> Result<(), BenchError> {
    let requests = figure.requests();
    if requests > 0 && figure.errors() == 0 {
        return Ok(());
    }
    let errors: Vec<_> = figure.rounds.iter().map(|round| round.errors).collect();
    Err(BenchError::Unexpected {
        configuration: format!(
            "({}) {}",
            figure.configuration.number(),
            figure.configuration.label()
        ),
        problem: format!(
            "{requests} requests under wrk, {} failed: {errors:?}",
            figure.errors()
        ),
    })
}
