//! The report: a Markdown section with the machine, the method, the throughput table (each
//! configuration as a ratio to native `jwt_authn` with cache and to the no-op Wasm filter),
//! the HTTP/2, two-worker and recovery sections (`report_sections`), the targets from
//! DESIGN.md as met or missed, and the other measurements. A partial run (`--only`) reports
//! what it measured and says so in its heading.
//!
//! `docs/benchmarks.md` keeps hand-written analysis around the generated section: only the
//! text between the two markers is replaced, so a new run never erases why a target is missed.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::bench::breach::BreachFigures;
use crate::bench::configuration::{Configuration, AUDIT_BATCH_RECORDS, AUDIT_BUFFER_RECORDS};
use crate::bench::error::BenchError;
use crate::bench::http2::Http2Throughput;
use crate::bench::ingest::IngestFigures;
use crate::bench::machine::Machine;
use crate::bench::pin::Cores;
use crate::bench::plan::Plan;
use crate::bench::recovery::RecoveryFigures;
use crate::bench::report_sections;
use crate::bench::revocation::{RevocationFigures, POLL_INTERVAL_MS};
use crate::bench::rounds::{ConfigurationFigures, Throughput};
use crate::bench::stats::median;

/// Where the generated section starts.
pub const BEGIN_MARKER: &str =
    "<!-- BEGIN cargo xtask bench: generated, replaced by every full run -->";
/// Where it ends.
pub const END_MARKER: &str = "<!-- END cargo xtask bench -->";

/// The `.wasm` budget in DESIGN.md.
const WASM_BUDGET_BYTES: u64 = 400 * 1024;

/// The sizes of the two filter modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmSizes {
    /// jitgate's filter.
    pub jitgate: u64,
    /// The no-op baseline.
    pub noop: u64,
}

impl WasmSizes {
    /// Reads both files' sizes.
    pub fn read(plan: &Plan) -> Result<WasmSizes, BenchError> {
        let size = |path: &Path| {
            std::fs::metadata(path)
                .map(|metadata| metadata.len())
                .map_err(BenchError::file(path))
        };
        Ok(WasmSizes {
            jitgate: size(&plan.jitgate_wasm)?,
            noop: size(&plan.noop_wasm)?,
        })
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// How much.
    pub plan: Plan,
    /// The configurations under `wrk`, one Envoy worker.
    pub throughput: Option<Throughput>,
    /// The same Envoys under `h2load`.
    pub http2: Option<Http2Throughput>,
    /// Two Envoy workers under `wrk`.
    pub two_workers: Option<Throughput>,
    /// Collector crash → the gate serving again.
    pub recovery: Option<RecoveryFigures>,
    /// Revoke → refusal.
    pub revocation: Option<RevocationFigures>,
    /// Fleet budget breach → refusal on every gateway.
    pub breach: Option<BreachFigures>,
    /// Collector ingest, when measured.
    pub ingest: Option<IngestFigures>,
    /// Module sizes.
    pub sizes: WasmSizes,
}

/// One target from DESIGN.md and how the run did against it.
struct Target {
    goal: &'static str,
    measured: String,
    met: Option<bool>,
}

impl Report {
    fn figures(&self, configuration: Configuration) -> Option<&ConfigurationFigures> {
        self.throughput.as_ref()?.figures(configuration)
    }

    /// Requests/s of `a` divided by those of `b`.
    fn ratio(&self, a: Configuration, b: Configuration) -> Option<f64> {
        ratio_of(
            self.figures(a)
                .map(ConfigurationFigures::requests_per_second),
            self.figures(b)
                .map(ConfigurationFigures::requests_per_second),
        )
    }

    fn targets(&self) -> Vec<Target> {
        use Configuration::{
            JitgateAudit, JitgateAuditBudget, JitgateFreshTokens, JwtAuthnCached, JwtAuthnUncached,
            NoopWasm,
        };
        let ratio_target = |goal, a, b, minimum: f64| {
            let ratio = self.ratio(a, b);
            Target {
                goal,
                measured: ratio.map_or("—".into(), |r| format!("{r:.2}×")),
                met: ratio.map(|r| r >= minimum),
            }
        };
        let revocation_p99 = self.revocation.as_ref().and_then(RevocationFigures::p99);
        let breach_p99 = self.breach.as_ref().and_then(BreachFigures::p99);
        let sqlite = self.ingest.as_ref().and_then(|ingest| {
            ingest
                .stores
                .iter()
                .find(|(store, _, _)| store == "sqlite")
                .map(|(_, rate, _)| *rate)
        });
        vec![
            ratio_target("(5) ≥ 1.1× (2)", JitgateAudit, JwtAuthnCached, 1.1),
            ratio_target("(5) ≥ 0.9× (4)", JitgateAudit, NoopWasm, 0.9),
            ratio_target("(7) ≥ 0.8× (3)", JitgateFreshTokens, JwtAuthnUncached, 0.8),
            ratio_target(
                "budget counting: (5b) ≥ 0.95× (5)",
                JitgateAuditBudget,
                JitgateAudit,
                0.95,
            ),
            Target {
                goal: "revocation p99 ≤ 1 s",
                measured: revocation_p99.map_or("—".into(), milliseconds),
                met: revocation_p99.map(|p99| p99 <= Duration::from_secs(1)),
            },
            Target {
                goal: "fleet budget breach → refused on every gateway, p99 ≤ 2 s",
                measured: breach_p99.map_or("—".into(), milliseconds),
                met: breach_p99.map(|p99| p99 <= Duration::from_secs(2)),
            },
            Target {
                goal: "collector ≥ 100k records/s (SQLite)",
                measured: sqlite.map_or("not measured".into(), |rate| format!("{rate:.0}/s")),
                met: sqlite.map(|rate| rate >= 100_000.0),
            },
            Target {
                goal: "filter .wasm ≤ 400 KB",
                measured: kilobytes(self.sizes.jitgate),
                met: Some(self.sizes.jitgate <= WASM_BUDGET_BYTES),
            },
        ]
    }

    /// The generated Markdown section, markers included.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) -> std::fmt::Result {
        let m = &self.machine;
        let plan = &self.plan;
        writeln!(out, "{BEGIN_MARKER}")?;
        if !plan.is_partial() {
            writeln!(out, "## Latest full run: {}\n", m.date)?;
        } else {
            writeln!(out, "## Partial run: {}\n", m.date)?;
        }
        writeln!(
            out,
            "- **Machine:** {} ({} logical cores), {} memory, {}; load average at start {}.",
            m.cpu, m.cores, m.memory, m.kernel, m.load_average
        )?;
        writeln!(
            out,
            "- **Versions:** Envoy {}; {}; {}; {}; jitgate at `{}`.",
            m.envoy, m.wrk, m.h2load, m.rustc, m.commit
        )?;
        let pinning = match Cores::pick() {
            Some(cores) => format!(
                "Envoy (`--concurrency 1`, all its threads) pinned to core {} with `taskset`; \
                 `wrk`, `h2load`, the runner, the collector and the issuer pinned to core {}",
                cores.envoy, cores.load
            ),
            None => "fewer than two cores: nothing pinned".to_owned(),
        };
        writeln!(out, "- **Method:** {pinning}. Every request goes through the filter chain under test to an upstream that is a second listener of the same Envoy answering by itself (`direct_response`, an OpenAI-style body with usage): a real upstream hop, but no upstream process on either core. `wrk -t1 -c{}` (keep-alive HTTP/1.1, `bench/wrk/request.lua`), {} interleaved rounds of {} s per configuration after {} s of warm-up each; every figure is the median over the rounds. Requests: `GET /v1/fine_tuning/jobs` (scope `training:jobs:read`, header-scoped) for (1)–(7), `POST /v1/chat/completions` with a {}-byte JSON body (scope from `model`) for (8); the same Ed25519 grant token on every request except (7), which cycles through {} distinct tokens (more than jitgate's 10 000-entry cache holds), and (5b), whose token's grant has a budget (`limits`, far above what a run sends) so every request is counted in Envoy's shared data — at admission, and from the answer's usage. In (5) and (5b) the filter sends audit batches of {} records and may hold {} unacknowledged (so a collector slower than Envoy shows as a backlog, not as 503s); after each of its rounds the runner waits until the collector has acknowledged a record for every allowed request, so its ingest does not spill into the next configuration's turn.", plan.connections, plan.rounds, plan.duration.as_secs(), plan.warmup.as_secs(), Configuration::JitgateBodyScope.request().body.len(), plan.fresh_tokens, AUDIT_BATCH_RECORDS, AUDIT_BUFFER_RECORDS)?;
        if !plan.is_partial() {
            writeln!(out, "- **Command:** `cargo xtask bench` (or `just bench`); it prints this section and writes it into this file.\n")?;
        } else {
            writeln!(
                out,
                "- **Command:** a partial run (`jitgate-bench` with `--only`, `--rounds` or `--seconds`): configurations {}; measurements {}. Only `cargo xtask bench`'s full run is written into this file.\n",
                plan.selection.configurations.iter().map(|c| format!("({})", c.number())).collect::<Vec<_>>().join(" "),
                plan.selection.measurements.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
            )?;
        }
        if let Some(throughput) = &self.throughput {
            self.write_http1(out, &throughput.figures)?;
        }
        report_sections::write_http2(self, out)?;
        report_sections::write_two_workers(self, out)?;
        report_sections::write_recovery(self, out)?;

        writeln!(out, "\n### Targets (DESIGN.md; reported, never asserted)\n")?;
        writeln!(out, "| target | measured | |")?;
        writeln!(out, "|---|---:|---|")?;
        for target in self.targets() {
            let verdict = match target.met {
                Some(true) => "met",
                Some(false) => "**missed** (see below)",
                None => "not measured",
            };
            writeln!(out, "| {} | {} | {verdict} |", target.goal, target.measured)?;
        }

        writeln!(out, "\n### Other measurements\n")?;
        match &self.revocation {
            Some(r) => {
                writeln!(
            out,
            "- **Revocation latency** (real issuer in-process, filter polling the feed every {POLL_INTERVAL_MS} ms, the default; revoke call → first `401 revoked`, calls 2 ms apart): p50 {}, p99 {}, max {} over {} trials.",
            r.p50().map_or("—".into(), milliseconds),
            r.p99().map_or("—".into(), milliseconds),
            r.max().map_or("—".into(), milliseconds),
            r.latencies.len()
        )?;
                if let Some(problem) = &r.problem {
                    writeln!(out, "- **Revocation trials stopped early:** {problem}.")?;
                }
            }
            None => writeln!(out, "- **Revocation latency:** not measured in this run.")?,
        }
        if let Some(b) = &self.breach {
            writeln!(
            out,
            "- **Fleet budget breach → refusal** (the local stack's code: {} Envoy processes of 2 workers, the real issuer and collector with the guard, the filter's defaults: audit flush within 250 ms, feed poll every 1 s; a grant's fleet budget of 4 requests spent 2 on each gateway, then both called every 5 ms; from the answer that reached the budget to the first `401 revoked` on every gateway): p50 {}, p99 {} over {} trials; calls admitted after the breach across the fleet: median {}, max {}.",
            b.gateways,
            b.p50().map_or("—".into(), milliseconds),
            b.p99().map_or("—".into(), milliseconds),
            b.latencies.len(),
            median_count(&b.overshoots).map_or("—".into(), |n| n.to_string()),
            b.max_overshoot().map_or("—".into(), |n| n.to_string()),
        )?;
            if let Some(problem) = &b.problem {
                writeln!(out, "- **Breach trials stopped early:** {problem}.")?;
            }
        } else {
            writeln!(
                out,
                "- **Fleet budget breach → refusal:** not measured in this run."
            )?;
        }
        match &self.ingest {
            Some(ingest) => {
                for (_, _, line) in &ingest.stores {
                    writeln!(
                        out,
                        "- **Collector ingest** (`ingest_bench`, release): {line}."
                    )?;
                }
                if let Some(reason) = &ingest.postgres_skipped {
                    writeln!(
                        out,
                        "- **Collector ingest, PostgreSQL:** not measured ({reason})."
                    )?;
                }
            }
            None => writeln!(out, "- **Collector ingest:** not measured in this run.")?,
        }
        writeln!(
            out,
            "- **Filter size:** jitgate {} ({} bytes); the no-op filter {} ({} bytes).",
            kilobytes(self.sizes.jitgate),
            self.sizes.jitgate,
            kilobytes(self.sizes.noop),
            self.sizes.noop
        )?;
        writeln!(out, "- **Envoy memory:** resident set (`VmRSS`) of each configuration's Envoy after its rounds, in the table above.")?;
        writeln!(out, "{END_MARKER}")?;
        Ok(())
    }

    /// The HTTP/1.1 table and its per-round figures.
    fn write_http1(&self, out: &mut String, figures: &[ConfigurationFigures]) -> std::fmt::Result {
        writeln!(
            out,
            "| # | configuration | req/s | p50 | p99 | × (2) | × (4) | Envoy RSS | notes |"
        )?;
        writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|")?;
        for figure in figures {
            let configuration = figure.configuration;
            let ratio = |base| {
                self.ratio(configuration, base)
                    .map_or("—".into(), |r| format!("{r:.2}"))
            };
            let mut notes = Vec::new();
            if let Some((hits, misses)) = figure.cache {
                let total = hits + misses;
                if total > 0 {
                    notes.push(format!(
                        "cache hits {:.1} %",
                        hits as f64 * 100.0 / total as f64
                    ));
                }
            }
            if let Some(rate) = median(&figure.audit_acknowledged_per_second) {
                notes.push(format!(
                    "collector acknowledged {rate:.0} records/s during the rounds"
                ));
            }
            if figure.errors() > 0 {
                notes.push(format!("{} failed requests", figure.errors()));
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
                ratio(Configuration::JwtAuthnCached),
                ratio(Configuration::NoopWasm),
                figure.rss_kib.map_or("—".into(), |kib| format!(
                    "{:.1} MiB",
                    kib as f64 / 1024.0
                )),
                notes.join("; ")
            )?;
        }
        writeln!(out, "\nPer-round requests/s (in round order):\n")?;
        for figure in figures {
            let rounds: Vec<String> = figure
                .rounds
                .iter()
                .map(|round| format!("{:.0}", round.requests_per_second()))
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

    /// Puts the generated section into `path`, replacing the previous one and keeping the
    /// hand-written text around it; a file without markers gets the section appended.
    pub fn write_into(&self, path: &Path) -> Result<(), BenchError> {
        let section = self.to_markdown();
        let existing = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(BenchError::file(path)(error)),
        };
        let updated = replace_section(&existing, &section);
        std::fs::write(path, updated).map_err(BenchError::file(path))
    }
}

/// `text` with the part from [`BEGIN_MARKER`] to [`END_MARKER`] replaced by `section` (which
/// carries both markers), or with `section` appended when there are no markers.
fn replace_section(text: &str, section: &str) -> String {
    let start = text.find(BEGIN_MARKER);
    let end = text.find(END_MARKER).map(|index| index + END_MARKER.len());
    match (start, end) {
        (Some(start), Some(end)) if start < end => {
            let rest = text[end..].strip_prefix('\n').unwrap_or(&text[end..]);
            format!("{}{section}{rest}", &text[..start])
        }
        _ if text.is_empty() => section.to_owned(),
        _ => format!("{}\n\n{section}", text.trim_end()),
    }
}

/// `a / b`, when both were measured and `b` is not zero.
pub fn ratio_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

/// `0.85`, or `—` when there is no ratio.
pub fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or("—".into(), |r| format!("{r:.2}"))
}

/// `12.34 ms`.
pub fn milliseconds(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn kilobytes(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// The middle value of `counts` (the lower one of an even count).
fn median_count(counts: &[u32]) -> Option<u32> {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_section_replaces_only_the_old_one() {
        let old =
            format!("# Title\n\nintro\n\n{BEGIN_MARKER}\nold\n{END_MARKER}\n\n## Analysis\nkept\n");
        let new = format!("{BEGIN_MARKER}\nnew\n{END_MARKER}\n");
        assert_eq!(
            replace_section(&old, &new),
            format!("# Title\n\nintro\n\n{BEGIN_MARKER}\nnew\n{END_MARKER}\n\n## Analysis\nkept\n")
        );
    }

    #[test]
    fn a_file_without_markers_gets_the_section_appended() {
        let new = format!("{BEGIN_MARKER}\nnew\n{END_MARKER}\n");
        assert_eq!(replace_section("", &new), new);
        assert_eq!(replace_section("# T\n", &new), format!("# T\n\n{new}"));
    }
}
