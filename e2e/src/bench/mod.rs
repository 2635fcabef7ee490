//! The benchmarks behind `cargo xtask bench`: jitgate side by side with Envoy's native
//! `jwt_authn` + RBAC and a no-op Wasm filter, in one run on one machine, plus revocation
//! latency, the guard's breach-to-refusal latency across a fleet, collector ingest rate,
//! `.wasm` size and Envoy's memory.
//!
//! Envoy runs one worker pinned to one core and `wrk` runs pinned to the other, against a
//! route that answers by itself (no upstream on either core). Configurations are measured in
//! interleaved rounds (A B C … A B C …) so drift on the machine hits all of them alike, and
//! each figure is the median of the rounds.
//!
//! Speed is only ever reported here, never asserted. What a run does assert is that every
//! configuration served its requests with the expected status — that is what the short smoke
//! run in `cargo xtask test` checks, so the harness cannot break unnoticed.

pub mod breach;
pub mod configuration;
pub mod error;
pub mod ingest;
pub mod load;
pub mod machine;
pub mod pin;
pub mod plan;
pub mod report;
pub mod revocation;
pub mod rounds;
pub mod stats;
pub mod tokens;

pub use configuration::Configuration;
pub use error::BenchError;
pub use plan::Plan;
pub use report::Report;

/// Runs every measurement the plan asks for and returns the report.
pub fn run(plan: &Plan) -> Result<Report, BenchError> {
    let machine = machine::Machine::describe(plan);
    let throughput = rounds::measure(plan)?;
    let revocation = revocation::measure(plan.revocation_trials, &plan.jitgate_wasm, plan.smoke)?;
    let breach = breach::measure(plan.breach_trials, &plan.jitgate_wasm, plan.smoke)?;
    // A full run has already spent minutes on the throughput rounds: an ingest failure is
    // reported with them rather than throwing them away.
    let ingest = match &plan.ingest_bench {
        Some(binary) => match ingest::measure(binary, plan.ingest_records) {
            Ok(figures) => Some(figures),
            Err(error) if plan.smoke => return Err(error),
            Err(error) => {
                eprintln!("bench: ingest: {error}");
                Some(ingest::IngestFigures {
                    stores: Vec::new(),
                    postgres_skipped: Some(format!("the ingest run failed: {error}")),
                })
            }
        },
        None => None,
    };
    let sizes = report::WasmSizes::read(plan)?;
    Ok(Report {
        machine,
        plan: plan.clone(),
        throughput,
        revocation,
        breach,
        ingest,
        sizes,
    })
}
