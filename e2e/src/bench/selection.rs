//! Which part of a run to make: `jitgate-bench --only 5,6,h2` reruns a subset quickly.
//!
//! Numbers pick configurations (as the report numbers them: `1`–`8`, `5b`); words pick
//! measurements (`http1`, `h2`, `workers`, `recovery`, `revocation`, `breach`, `ingest`).
//! Numbers alone run the measurements that take configurations (HTTP/1.1, HTTP/2, two
//! workers) for those configurations only; words alone run those measurements for every
//! configuration they cover; both together narrow both. Without `--only`, everything runs.

use std::collections::BTreeSet;

use crate::bench::configuration::Configuration;
use crate::bench::error::BenchError;

/// One measurement of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measurement {
    /// The configurations under `wrk` (keep-alive HTTP/1.1), one Envoy worker.
    Http1,
    /// The same Envoys under `h2load` (HTTP/2 cleartext, prior knowledge).
    Http2,
    /// A second set of Envoys with two workers, under `wrk`.
    Workers,
    /// Collector killed under load, restarted: how soon the gate serves again.
    Recovery,
    /// Revoke call → first `401 revoked`.
    Revocation,
    /// Fleet budget breach → refusal on every gateway.
    Breach,
    /// Collector ingest rate (`ingest_bench`), when the runner was given it.
    Ingest,
}

impl Measurement {
    /// Every measurement, in the order a run makes them.
    pub const ALL: [Measurement; 7] = [
        Measurement::Http1,
        Measurement::Http2,
        Measurement::Workers,
        Measurement::Recovery,
        Measurement::Revocation,
        Measurement::Breach,
        Measurement::Ingest,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Measurement::Http1 => "http1",
            Measurement::Http2 => "h2",
            Measurement::Workers => "workers",
            Measurement::Recovery => "recovery",
            Measurement::Revocation => "revocation",
            Measurement::Breach => "breach",
            Measurement::Ingest => "ingest",
        }
    }

    /// Whether it measures configurations (and so is narrowed by numbers in `--only`).
    pub fn takes_configurations(self) -> bool {
        matches!(
            self,
            Measurement::Http1 | Measurement::Http2 | Measurement::Workers
        )
    }
}

/// What a run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Configurations, in [`Configuration::ALL`] order.
    pub configurations: Vec<Configuration>,
    /// Measurements.
    pub measurements: BTreeSet<Measurement>,
}

impl Selection {
    /// Everything: what a full run and the smoke run measure.
    pub fn everything() -> Selection {
        Selection {
            configurations: Configuration::ALL.to_vec(),
            measurements: Measurement::ALL.into_iter().collect(),
        }
    }

    /// Parses an `--only` list: numbers and words separated by commas or spaces.
    pub fn parse(list: &str) -> Result<Selection, BenchError> {
        let mut configurations = BTreeSet::new();
        let mut measurements = BTreeSet::new();
        for item in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
        {
            let item = item.trim_start_matches('(').trim_end_matches(')');
            if let Some(configuration) = Configuration::ALL
                .into_iter()
                .find(|configuration| configuration.number().eq_ignore_ascii_case(item))
            {
                configurations.insert(configuration);
            } else if let Some(measurement) = Measurement::ALL
                .into_iter()
                .find(|measurement| measurement.name().eq_ignore_ascii_case(item))
            {
                measurements.insert(measurement);
            } else {
                return Err(BenchError::Usage(format!(
                    "--only: `{item}` is neither a configuration ({}) nor a measurement ({})",
                    Configuration::ALL.map(Configuration::number).join(", "),
                    Measurement::ALL.map(Measurement::name).join(", ")
                )));
            }
        }
        if configurations.is_empty() && measurements.is_empty() {
            return Err(BenchError::Usage("--only needs a list".into()));
        }
        if measurements.is_empty() {
            measurements = Measurement::ALL
                .into_iter()
                .filter(|measurement| measurement.takes_configurations())
                .collect();
        }
        Ok(Selection {
            configurations: if configurations.is_empty() {
                Configuration::ALL.to_vec()
            } else {
                configurations.into_iter().collect()
            },
            measurements,
        })
    }

    /// Whether `measurement` is made.
    pub fn runs(&self, measurement: Measurement) -> bool {
        self.measurements.contains(&measurement)
    }

    /// The selected configurations among `candidates`, in report order.
    pub fn among(&self, candidates: &[Configuration]) -> Vec<Configuration> {
        self.configurations
            .iter()
            .copied()
            .filter(|configuration| candidates.contains(configuration))
            .collect()
    }

    /// Whether this is the whole run (whose report may replace the one in the docs).
    pub fn is_everything(&self) -> bool {
        *self == Selection::everything()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_alone_narrow_the_configuration_measurements() {
        let selection = Selection::parse("2,5b (8)").ok();
        assert_eq!(
            selection,
            Some(Selection {
                configurations: vec![
                    Configuration::JwtAuthnCached,
                    Configuration::JitgateAuditBudget,
                    Configuration::JitgateBodyScope
                ],
                measurements: [Measurement::Http1, Measurement::Http2, Measurement::Workers]
                    .into_iter()
                    .collect(),
            })
        );
    }

    #[test]
    fn words_alone_keep_every_configuration() {
        let selection = Selection::parse("recovery,H2").ok();
        assert_eq!(
            selection.as_ref().map(|s| s.configurations.len()),
            Some(Configuration::ALL.len())
        );
        assert_eq!(
            selection.map(|s| s.measurements.into_iter().collect::<Vec<_>>()),
            Some(vec![Measurement::Http2, Measurement::Recovery])
        );
    }

    #[test]
    fn unknown_items_and_empty_lists_are_usage_errors() {
        assert!(matches!(Selection::parse("5,9"), Err(BenchError::Usage(_))));
        assert!(matches!(Selection::parse(" , "), Err(BenchError::Usage(_))));
        assert!(!Selection::parse("1,2").is_ok_and(|s| s.is_everything()));
        assert!(Selection::everything().is_everything());
    }
}
