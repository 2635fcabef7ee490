//! The throughput measurements, stand by stand: one Envoy worker on its own core under `wrk`
//! and then `h2load`, and two Envoy workers under `wrk`. After a stand's rounds each
//! configuration is checked for what it should have served (every request a 2xx, every
//! jitgate request allowed by the gate, every audit record acknowledged by the collector) and
//! its Envoy's memory is read.
//!
//! A full run reports a problem next to the configuration's figures; a smoke run fails on it.

use crate::bench::configuration::Configuration;
use crate::bench::error::BenchError;
use crate::bench::http2::{self, Http2Figures, Http2Throughput};
use crate::bench::plan::Plan;
use crate::bench::rounds::{self, ConfigurationFigures, Throughput};
use crate::bench::selection::Measurement;
use crate::bench::stand::{self, Placement, Stand};
use crate::envoy::Envoy;

/// Envoy workers in the two-worker run.
pub const TWO_WORKERS: u32 = 2;

/// The configurations of the two-worker run: the native and the Wasm baselines, jitgate with
/// and without audit, and the body-scoped route.
pub const TWO_WORKER_CONFIGURATIONS: [Configuration; 5] = [
    Configuration::JwtAuthnCached,
    Configuration::NoopWasm,
    Configuration::JitgateAudit,
    Configuration::JitgateNoAudit,
    Configuration::JitgateBodyScope,
];

/// The one-worker stand's figures: under `wrk` and under `h2load`, each when selected.
pub fn one_worker(
    plan: &Plan,
) -> Result<(Option<Throughput>, Option<Http2Throughput>), BenchError> {
    let selection = &plan.selection;
    let http1 = selection.runs(Measurement::Http1);
    let http2_configurations = if selection.runs(Measurement::Http2) {
        selection.among(&http2::CONFIGURATIONS)
    } else {
        Vec::new()
    };
    let configurations = if http1 {
        selection.configurations.clone()
    } else {
        http2_configurations.clone()
    };
    if configurations.is_empty() {
        return Ok((None, None));
    }
    let stand = Stand::start(plan, &configurations, 1, Placement::OwnCore)?;
    let mut wrk = if http1 {
        rounds::measure(plan, &stand)?
    } else {
        Vec::new()
    };
    let mut h2 = if http2_configurations.is_empty() {
        None
    } else {
        Some(http2::measure(plan, &stand, &http2_configurations)?)
    };
    for (configuration, envoy) in &stand.envoys {
        let wrk_figure = wrk
            .iter_mut()
            .find(|figure| figure.configuration == *configuration);
        let h2_figure = h2.as_mut().and_then(|h2| {
            h2.figures
                .iter_mut()
                .find(|figure| figure.configuration == *configuration)
        });
        finish(plan, *configuration, envoy, wrk_figure, h2_figure)?;
    }
    let http1 = http1.then_some(Throughput {
        cores: stand.cores,
        workers: stand.workers,
        figures: wrk,
    });
    Ok((http1, h2))
}

/// The two-worker stand's figures under `wrk`, when selected.
pub fn two_workers(plan: &Plan) -> Result<Option<Throughput>, BenchError> {
    if !plan.selection.runs(Measurement::Workers) {
        return Ok(None);
    }
    let configurations = plan.selection.among(&TWO_WORKER_CONFIGURATIONS);
    if configurations.is_empty() {
        return Ok(None);
    }
    let stand = Stand::start(plan, &configurations, TWO_WORKERS, Placement::AllCores)?;
    let mut figures = rounds::measure(plan, &stand)?;
    for ((configuration, envoy), figure) in stand.envoys.iter().zip(figures.iter_mut()) {
        finish(plan, *configuration, envoy, Some(figure), None)?;
    }
    Ok(Some(Throughput {
        cores: stand.cores,
        workers: stand.workers,
        figures,
    }))
}

/// Checks what one configuration served under both load generators, and reads its Envoy's
/// memory and cache counters into the `wrk` figures.
fn finish(
    plan: &Plan,
    configuration: Configuration,
    envoy: &Envoy,
    mut wrk: Option<&mut ConfigurationFigures>,
    h2: Option<&mut Http2Figures>,
) -> Result<(), BenchError> {
    let served = wrk.as_ref().map_or(0, |figure| figure.requests())
        + h2.as_ref().map_or(0, |figure| figure.requests());
    let checked = wrk
        .as_deref()
        .map_or(Ok(()), rounds::check_statuses)
        .and_then(|()| h2.as_deref().map_or(Ok(()), Http2Figures::check_statuses))
        .and_then(|()| stand::check_gate(configuration, envoy, served));
    match checked {
        Ok(()) => {}
        Err(problem) if plan.smoke => return Err(problem),
        Err(problem) => {
            eprintln!("bench: {problem}");
            if let Some(figure) = wrk.as_deref_mut() {
                figure.problem = Some(problem.to_string());
            }
            if let Some(figure) = h2 {
                figure.problem = Some(problem.to_string());
            }
        }
    }
    if let Some(figure) = wrk {
        figure.rss_kib = stand::resident_kib(envoy.pid());
        if configuration.is_jitgate() {
            figure.cache = Some((
                stand::stat(envoy, "jitgate_cache_hits")?,
                stand::stat(envoy, "jitgate_cache_misses")?,
            ));
        }
    }
    Ok(())
}
