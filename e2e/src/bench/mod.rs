//! The benchmarks behind `cargo xtask bench`: jitgate side by side with Envoy's native
//! `jwt_authn` + RBAC and a no-op Wasm filter, in one run on one machine — over HTTP/1.1
//! (`wrk`) and HTTP/2 (`h2load`), with one Envoy worker and with two — plus how soon the
//! gate serves again after a collector crash, revocation latency, the guard's
//! breach-to-refusal latency across a fleet, collector ingest rate, `.wasm` size and Envoy's
//! memory.
//!
//! Envoy runs one worker pinned to one core and the load generator runs pinned to the other,
//! against a route that answers by itself (no upstream on either core). Configurations are
//! measured in interleaved rounds (A B C … A B C …) so drift on the machine hits all of them
//! alike, and each figure is the median of the rounds.
//!
//! Speed is only ever reported here, never asserted. What a run does assert is that every
//! configuration served its requests with the expected status — that is what the short smoke
//! run in `cargo xtask test` checks, so the harness cannot break unnoticed.

pub mod breach;
pub mod configuration;
pub mod error;
pub mod h2load;
pub mod http2;
pub mod ingest;
pub mod load;
pub mod machine;
pub mod pin;
pub mod plan;
pub mod recovery;
pub mod report;
pub mod report_sections;
pub mod revocation;
pub mod rounds;
pub mod selection;
pub mod stand;
pub mod stats;
pub mod throughput;
pub mod timeline;
pub mod tokens;
pub mod tool;

pub use configuration::Configuration;
pub use error::BenchError;
pub use plan::Plan;
pub use report::Report;
pub use selection::{Measurement, Selection};

/// Runs every measurement the plan asks for and returns the report.
pub fn run(plan: &Plan) -> Result<Report, BenchError> {
    let machine = machine::Machine::describe(plan);
    if let Some(cores) = pin::Cores::pick() {
        // Before any thread or child exists, so all of them (load generators, collectors,
        // the issuer) inherit the load core; each Envoy is moved off it once started.
        pin::pin_self(cores.load)?;
    }
    let runs = |measurement| plan.selection.runs(measurement);
    let (throughput, http2) = throughput::one_worker(plan)?;
    let two_workers = throughput::two_workers(plan)?;
    let recovery = if runs(Measurement::Recovery) {
        Some(recovery::measure(plan)?)
    } else {
        None
    };
    let revocation = if runs(Measurement::Revocation) {
        Some(revocation::measure(
            plan.revocation_trials,
            &plan.jitgate_wasm,
            plan.smoke,
        )?)
    } else {
        None
    };
    let breach = if runs(Measurement::Breach) {
        Some(breach::measure(
            plan.breach_trials,
            &plan.jitgate_wasm,
            plan.smoke,
        )?)
    } else {
        None
    };
    // A full run has already spent minutes on the throughput rounds: an ingest failure is
    // reported with them rather than throwing them away.
    let ingest = match &plan.ingest_bench {
        Some(binary) if runs(Measurement::Ingest) => {
            match ingest::measure(binary, plan.ingest_records) {
                Ok(figures) => Some(figures),
                Err(error) if plan.smoke => return Err(error),
                Err(error) => {
                    eprintln!("bench: ingest: {error}");
                    Some(ingest::IngestFigures {
                        stores: Vec::new(),
                        postgres_skipped: Some(format!("the ingest run failed: {error}")),
                    })
                }
            }
        }
        _ => None,
    };
    let sizes = report::WasmSizes::read(plan)?;
    Ok(Report {
        machine,
        plan: plan.clone(),
        throughput,
        http2,
        two_workers,
        recovery,
        revocation,
        breach,
        ingest,
        sizes,
    })
}
