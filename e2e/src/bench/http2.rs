//! The HTTP/2 run: the same Envoys as the HTTP/1.1 rounds (the same processes, one worker on
//! the Envoy core) driven by `h2load` over h2c, in interleaved rounds of their own, each
//! figure the median over them.
//!
//! Sixteen requests are in flight, as under `wrk`, but multiplexed four to a connection over
//! four connections, as an HTTP/2 client (an SDK on httpx, a gateway in front) sends them:
//! what differs from the HTTP/1.1 table is the codec and the connection count, not the load.

use std::time::Duration;

use crate::bench::configuration::Configuration;
use crate::bench::error::BenchError;
use crate::bench::h2load::{self, H2Load, H2Result};
use crate::bench::plan::Plan;
use crate::bench::stand::{self, Stand};
use crate::bench::stats::median;
use crate::envoy::Envoy;

/// The configurations measured over HTTP/2: the native baseline, the Wasm baseline, jitgate
/// with and without audit, and the body-scoped route. (7) needs a different token on every
/// request, which h2load cannot send.
pub const CONFIGURATIONS: [Configuration; 5] = [
    Configuration::JwtAuthnCached,
    Configuration::NoopWasm,
    Configuration::JitgateAudit,
    Configuration::JitgateNoAudit,
    Configuration::JitgateBodyScope,
];

/// HTTP/2 connections h2load opens.
pub const CONNECTIONS: u32 = 4;
/// Concurrent streams on each.
pub const STREAMS: u32 = 4;

/// The HTTP/2 figures of every configuration measured.
#[derive(Debug, Clone)]
pub struct Http2Throughput {
    /// One entry per configuration, in [`Configuration::ALL`] order.
    pub figures: Vec<Http2Figures>,
}

impl Http2Throughput {
    /// The figures of `configuration`, if it was measured.
    pub fn figures(&self, configuration: Configuration) -> Option<&Http2Figures> {
        self.figures
            .iter()
            .find(|figure| figure.configuration == configuration)
    }
}

/// What one configuration measured over all HTTP/2 rounds.
#[derive(Debug, Clone)]
pub struct Http2Figures {
    /// Which one.
    pub configuration: Configuration,
    /// One result per round.
    pub rounds: Vec<H2Result>,
    /// What was wrong with what it served, when something was.
    pub problem: Option<String>,
}

impl Http2Figures {
    /// Median requests per second over the rounds.
    pub fn requests_per_second(&self) -> f64 {
        let rates: Vec<f64> = self
            .rounds
            .iter()
            .map(|round| round.requests_per_second)
            .collect();
        median(&rates).unwrap_or(0.0)
    }

    /// Median of the rounds' mean latencies.
    pub fn mean_latency(&self) -> Duration {
        let means: Vec<f64> = self
            .rounds
            .iter()
            .map(|round| round.mean_latency.as_secs_f64())
            .collect();
        Duration::from_secs_f64(median(&means).unwrap_or(0.0))
    }

    /// Requests answered over all rounds.
    pub fn requests(&self) -> u64 {
        self.rounds.iter().map(|round| round.done).sum()
    }

    /// The first round's problem: a request that was not a 2xx over h2c.
    pub fn check_statuses(&self) -> Result<(), BenchError> {
        let problem = if self.rounds.is_empty() {
            Some("no HTTP/2 round ran".to_owned())
        } else {
            self.rounds.iter().find_map(H2Result::problem)
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(BenchError::Unexpected {
                configuration: format!(
                    "({}) {} over HTTP/2",
                    self.configuration.number(),
                    self.configuration.label()
                ),
                problem,
            }),
        }
    }
}

/// Warms up (when the plan does), then runs the interleaved HTTP/2 rounds over the stand's
/// Envoys of `configurations`.
pub fn measure(
    plan: &Plan,
    stand: &Stand,
    configurations: &[Configuration],
) -> Result<Http2Throughput, BenchError> {
    let envoys: Vec<(Configuration, &Envoy)> = stand
        .envoys
        .iter()
        .filter(|(configuration, _)| configurations.contains(configuration))
        .map(|(configuration, envoy)| (*configuration, envoy))
        .collect();
    let mut tokens = Vec::new();
    for (configuration, _) in &envoys {
        tokens.push(stand.files.first_token(*configuration)?);
    }
    let load = |configuration: Configuration, envoy: &Envoy, token: &str, duration| {
        let load = H2Load {
            listener: envoy.listener(),
            token,
            request: configuration.request(),
            body_file: stand.files.body_for(configuration),
            connections: CONNECTIONS,
            streams: STREAMS,
            duration,
            core: stand.cores.map(|cores| cores.load),
        };
        let result = h2load::run(&load);
        stand::wait_for_audit(configuration, envoy)?;
        result
    };
    if !plan.warmup.is_zero() {
        for ((configuration, envoy), token) in envoys.iter().zip(&tokens) {
            load(*configuration, envoy, token, plan.warmup)?;
        }
    }
    let mut figures: Vec<Http2Figures> = envoys
        .iter()
        .map(|(configuration, _)| Http2Figures {
            configuration: *configuration,
            rounds: Vec::new(),
            problem: None,
        })
        .collect();
    for round in 1..=plan.rounds {
        for (((configuration, envoy), token), figure) in
            envoys.iter().zip(&tokens).zip(figures.iter_mut())
        {
            let result = load(*configuration, envoy, token, plan.duration)?;
            eprintln!(
                "bench: h2 round {round}/{} {:<5}{:>9.0} req/s  mean {:>7.3} ms  not 2xx {}",
                plan.rounds,
                format!("({})", configuration.number()),
                result.requests_per_second,
                result.mean_latency.as_secs_f64() * 1e3,
                result.done.saturating_sub(result.status_2xx)
            );
            figure.rounds.push(result);
        }
    }
    Ok(Http2Throughput { figures })
}
