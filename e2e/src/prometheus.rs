//! Reads Envoy's admin `/stats/prometheus` text: samples by metric name and exact label set.

use std::collections::BTreeMap;

/// One `name{labels} value` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, e.g. `envoy_cluster_upstream_rq_total`.
    pub name: String,
    /// Labels, e.g. `envoy_cluster_name="upstream"`.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Every sample of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrometheusStats {
    samples: Vec<Sample>,
}

impl PrometheusStats {
    /// Parses the text exposition format; lines that do not parse (and comments) are skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(parse_line)
            .collect();
        Self { samples }
    }

    /// All samples.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The value of the sample with this name and exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    /// [`Self::value`] as a counter.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        self.value(name, labels)
            .filter(|value| *value >= 0.0 && value.fract() == 0.0)
            // Counters are whole and below 2^53 in any test.
            .map(|value| value as u64)
    }
}

/// Renders a label set as Prometheus writes it, for messages.
pub fn format_labels(labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}={value:?}"))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn parse_line(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (series, BTreeMap::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `k="v",k2="v\"2"` (escapes `\\`, `\"`, `\n`).
fn parse_labels(mut text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (index, '"') => break index,
                (_, other) => value.push(other),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        text = &rest[end + 1..];
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="issuer"} 0
envoy_cluster_upstream_rq_total{envoy_cluster_name="upstream"} 3
envoy_wasm_envoy_wasm_runtime_v8_created{} 5
jitgate_denied{reason="say \"no\""} 2
envoy_server_uptime 12
"#;

    #[test]
    fn finds_a_counter_by_name_and_exact_labels() {
        let stats = PrometheusStats::parse(SCRAPE);
        let upstream = [("envoy_cluster_name", "upstream")];
        assert_eq!(
            stats.counter("envoy_cluster_upstream_rq_total", &upstream),
            Some(3)
        );
        assert_eq!(stats.counter("envoy_cluster_upstream_rq_total", &[]), None);
        assert_eq!(
            stats.counter("envoy_wasm_envoy_wasm_runtime_v8_created", &[]),
            Some(5)
        );
        assert_eq!(stats.counter("envoy_server_uptime", &[]), Some(12));
    }

    #[test]
    fn unescapes_label_values() {
        let stats = PrometheusStats::parse(SCRAPE);
        assert_eq!(
            stats.counter("jitgate_denied", &[("reason", "say \"no\"")]),
            Some(2)
        );
    }

    #[test]
    fn formats_labels_for_messages() {
        assert_eq!(format_labels(&[("a", "b")]), r#"{a="b"}"#);
    }
}
