//! The report's sections for the runs beside the HTTP/1.1 table: the same Envoys over
//! HTTP/2, two Envoy workers, and recovery after a collector crash. Each says how it was
//! measured next to its figures, since each differs from the main table in one way that
//! matters for reading it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::bench::configuration::Configuration;
use crate::bench::http2::{self, Http2Figures};
use crate::bench::recovery::{RecoveryTrial, BATCH_RECORDS};
use crate::bench::report::{milliseconds, ratio_of, ratio_text, Report};
use crate::bench::rounds::ConfigurationFigures;
use crate::bench::stats::median;
use crate::bench::timeline::PROBE_GAP;

/// `### HTTP/2 (h2load …)`: req/s as ratios to (2) and (4) over HTTP/2, and to the same
/// configuration under `wrk`.
pub fn write_http2(report: &Report, out: &mut String) -> std::fmt::Result {
    let Some(h2) = &report.http2 else {
        return Ok(());
    };
    let plan = &report.plan;
    writeln!(
        out,
        "\n### HTTP/2 (h2load -t1 -c{c} -m{m}, cleartext, prior knowledge)\n",
        c = http2::CONNECTIONS,
        m = http2::STREAMS
    )?;
    writeln!(out, "The same one-worker Envoys as above, after their HTTP/1.1 rounds, driven by `h2load` (nghttp2) pinned to the load core like `wrk`: HTTP/2 with prior knowledge to the same listener (`codec_type: AUTO`), {} connections of {} concurrent streams — 16 requests in flight, as under `wrk`, multiplexed. Same token and request; the body-scoped POST sends the same body (`-d`). {} interleaved rounds of {} s after {} s of warm-up each; medians. h2load prints a mean latency, not percentiles. (7) is not measured: h2load sends the same headers on every request.\n", http2::CONNECTIONS, http2::STREAMS, plan.rounds, plan.duration.as_secs(), plan.warmup.as_secs())?;
    writeln!(
        out,
        "| # | configuration | req/s | mean latency | × (2) | × (4) | × HTTP/1.1 | notes |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|")?;
    let rate = |configuration| {
        h2.figures(configuration)
            .map(Http2Figures::requests_per_second)
    };
    for figure in &h2.figures {
        let configuration = figure.configuration;
        let http1 = report
            .throughput
            .as_ref()
            .and_then(|throughput| throughput.figures(configuration))
            .map(ConfigurationFigures::requests_per_second);
        let notes = figure
            .problem
            .as_ref()
            .map_or(String::new(), |problem| format!("**{problem}**"));
        writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {notes} |",
            configuration.number(),
            configuration.label(),
            figure.requests_per_second(),
            milliseconds(figure.mean_latency()),
            ratio_text(ratio_of(
                rate(configuration),
                rate(Configuration::JwtAuthnCached)
            )),
            ratio_text(ratio_of(rate(configuration), rate(Configuration::NoopWasm))),
            ratio_text(ratio_of(rate(configuration), http1)),
        )?;
    }
    writeln!(
        out,
        "\nPer-round requests/s over HTTP/2 (in round order):\n"
    )?;
    for figure in &h2.figures {
        let rounds: Vec<String> = figure
            .rounds
            .iter()
            .map(|round| format!("{:.0}", round.requests_per_second))
            .collect();
        writeln!(
            out,
            "- ({}) {}",
            figure.configuration.number(),
            rounds.join(", ")
        )?;
    }
    Ok(())
}

/// `### Two Envoy workers`: the same table for `--concurrency 2`, with the ratio to one
/// worker, and the pinning said plainly.
pub fn write_two_workers(report: &Report, out: &mut String) -> std::fmt::Result {
    let Some(two) = &report.two_workers else {
        return Ok(());
    };
    let plan = &report.plan;
    writeln!(
        out,
        "\n### Two Envoy workers (`--concurrency {}`)\n",
        two.workers
    )?;
    let pinning = match two.cores {
        Some(cores) => format!(
            "Envoy's threads allowed on cores {} and {} (`taskset`), `wrk -t1 -c{}`, the runner and the collector still pinned to core {}: with {} workers Envoy takes both cores of this machine and shares core {} with the load generator, so these figures are not {}× the one-worker ones; × 1 worker says how much a second worker gains when the load generator needs a core too",
            cores.envoy, cores.load, plan.connections, cores.load, two.workers, cores.load, two.workers
        ),
        None => "fewer than two cores: nothing pinned".to_owned(),
    };
    writeln!(out, "A second set of Envoys, one per configuration. {pinning}. Same requests, {} interleaved rounds of {} s after {} s of warm-up each; medians.\n", plan.rounds, plan.duration.as_secs(), plan.warmup.as_secs())?;
    writeln!(
        out,
        "| # | configuration | req/s | p50 | p99 | × (2) | × (4) | × 1 worker | notes |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|")?;
    let rate = |configuration| {
        two.figures(configuration)
            .map(ConfigurationFigures::requests_per_second)
    };
    for figure in &two.figures {
        let configuration = figure.configuration;
        let one_worker = report
            .throughput
            .as_ref()
            .and_then(|throughput| throughput.figures(configuration))
            .map(ConfigurationFigures::requests_per_second);
        let mut notes = Vec::new();
        if let Some(rate) = median(&figure.audit_acknowledged_per_second) {
            notes.push(format!("collector acknowledged {rate:.0} records/s"));
        }
        if let Some(problem) = &figure.problem {
            notes.push(format!("**{problem}**"));
        }
        writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            configuration.number(),
            configuration.label(),
            figure.requests_per_second(),
            milliseconds(figure.p50()),
            milliseconds(figure.p99()),
            ratio_text(ratio_of(
                rate(configuration),
                rate(Configuration::JwtAuthnCached)
            )),
            ratio_text(ratio_of(rate(configuration), rate(Configuration::NoopWasm))),
            ratio_text(ratio_of(rate(configuration), one_worker)),
            notes.join("; ")
        )?;
    }
    Ok(())
}

/// One duration of a recovery trial.
type DurationOf = fn(&RecoveryTrial) -> Duration;
/// One count of a recovery trial.
type CountOf = fn(&RecoveryTrial) -> u64;

/// `### Recovery after a collector crash`: median and max of each step over the trials.
pub fn write_recovery(report: &Report, out: &mut String) -> std::fmt::Result {
    let Some(recovery) = &report.recovery else {
        return Ok(());
    };
    writeln!(out, "\n### Recovery after a collector crash\n")?;
    let load = if recovery.connections > 0 {
        format!("under `wrk -t1 -c{}`", recovery.connections)
    } else {
        "with the probe alone as load".to_owned()
    };
    writeln!(out, "jitgate as in (5) but at the filter's audit defaults — batches of {BATCH_RECORDS}, {} records held per VM, `overflow: deny` — one worker pinned like the others, {load}. Each trial SIGKILLs the running `jitgate collector serve`, keeps the load on until the gate answers 503 `audit_unavailable` (its buffer full), leaves the collector down 1–2 s more (spread over the filter's retry backoff, 0.2 s doubling to 1 s), and starts it again on the same port and data folder. Times are from the restarted collector first answering its health request (polled every 2 ms); the first 200 is seen by a probe request every {} ms on its own connection; normal is the start of a second in which Envoy answered no request with a 5xx (its `downstream_rq_5xx`, read every 20 ms, which counts the load's answers too). {} trials.\n", recovery.buffer_records, PROBE_GAP.as_millis(), recovery.trials.len())?;
    writeln!(out, "| | median | max |")?;
    writeln!(out, "|---|---:|---:|")?;
    let durations: [(&str, DurationOf); 4] = [
        ("collector answering → first 200 at the gateway", |t| {
            t.first_allowed
        }),
        ("collector answering → normal (1 s without a 5xx)", |t| {
            t.normal
        }),
        ("collector start → answering", |t| t.startup),
        ("collector killed → buffer full (first 503)", |t| {
            t.until_full
        }),
    ];
    for (label, figure) in durations {
        writeln!(
            out,
            "| {label} | {} | {} |",
            recovery.median(figure).map_or("—".into(), milliseconds),
            recovery.max(figure).map_or("—".into(), milliseconds)
        )?;
    }
    let counts: [(&str, CountOf); 2] = [
        ("503s served while the collector was down", |t| {
            t.refused_while_down
        }),
        ("503s served after it answered again", |t| t.refused_after),
    ];
    for (label, figure) in counts {
        let (median, max) = recovery
            .counts(figure)
            .map_or(("—".into(), "—".into()), |(median, max)| {
                (median.to_string(), max.to_string())
            });
        writeln!(out, "| {label} | {median} | {max} |")?;
    }
    if let Some(problem) = &recovery.problem {
        writeln!(out, "\nRecovery trials stopped early: {problem}.")?;
    }
    Ok(())
}
