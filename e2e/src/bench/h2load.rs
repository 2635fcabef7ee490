//! The HTTP/2 load generator: `h2load` (nghttp2) over cleartext with prior knowledge (an
//! `http://` URI: h2load opens with the HTTP/2 preface, and the bench listener's
//! `codec_type: AUTO` takes it), one thread pinned to the load core, and the figures it
//! prints.
//!
//! h2load has no scripting: every request carries the same headers, so a configuration that
//! cycles through many tokens ((7)) cannot be driven by it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::bench::configuration::BenchRequest;
use crate::bench::error::BenchError;
use crate::bench::{pin, tool};

/// One h2load run.
#[derive(Debug, Clone, Copy)]
pub struct H2Load<'a> {
    /// Envoy's listener.
    pub listener: SocketAddr,
    /// The grant token every request carries.
    pub token: &'a str,
    /// What to send (method and path; the body comes from `body_file`).
    pub request: BenchRequest,
    /// The request body, for a POST.
    pub body_file: Option<&'a Path>,
    /// Open connections.
    pub connections: u32,
    /// Concurrent streams per connection.
    pub streams: u32,
    /// How long (whole seconds; at least one).
    pub duration: Duration,
    /// The core to pin h2load to.
    pub core: Option<usize>,
}

/// What one h2load run measured, as it printed it.
#[derive(Debug, Clone, PartialEq)]
pub struct H2Result {
    /// The protocol h2load negotiated (`h2c` expected).
    pub protocol: String,
    /// Requests per second over the run.
    pub requests_per_second: f64,
    /// Requests that ended (with a response or an error).
    pub done: u64,
    /// Requests answered with a 2xx or 3xx.
    pub succeeded: u64,
    /// Requests not answered so (bad status, stream or connection error).
    pub failed: u64,
    /// Requests that ended in an error (no response).
    pub errored: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// Responses with a 2xx status.
    pub status_2xx: u64,
    /// Mean time for a request.
    pub mean_latency: Duration,
}

impl H2Result {
    /// What was wrong, if any request was not answered with a 2xx over HTTP/2.
    pub fn problem(&self) -> Option<String> {
        let all_2xx = self.done > 0
            && self.succeeded == self.done
            && self.status_2xx == self.done
            && self.failed == 0
            && self.errored == 0
            && self.timeout == 0;
        if self.protocol != "h2c" {
            Some(format!("h2load spoke {}, not h2c", self.protocol))
        } else if all_2xx {
            None
        } else {
            Some(format!(
                "h2load: {} done, {} succeeded, {} failed, {} errored, {} timeout, {} 2xx",
                self.done, self.succeeded, self.failed, self.errored, self.timeout, self.status_2xx
            ))
        }
    }
}

/// `h2load --version`, e.g. `h2load nghttp2/1.52.0`.
pub fn h2load_version() -> Option<String> {
    let output = std::process::Command::new("h2load")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().next().map(|line| line.trim().to_owned())
}

/// Runs h2load once and parses its summary.
pub fn run(load: &H2Load<'_>) -> Result<H2Result, BenchError> {
    let seconds = load.duration.as_secs().max(1);
    let mut command = pin::command_on(load.core, "h2load");
    command
        .args(["-t1", &format!("-c{}", load.connections)])
        .arg(format!("-m{}", load.streams))
        .arg(format!("-D{seconds}"))
        .arg("-H")
        .arg(format!("authorization: Bearer {}", load.token));
    if let Some(body) = load.body_file {
        // `-d` makes every request a POST with the file as its body.
        command
            .arg("-d")
            .arg(body)
            .args(["-H", "content-type: application/json"]);
    }
    command.arg(format!("http://{}{}", load.listener, load.request.path));
    let stdout = tool::stdout_of("h2load", "nghttp2-client", command)?;
    parse(&stdout)
        .map_err(|missing| tool::failed("h2load", format!("no {missing} in: {}", stdout.trim())))
}

/// Parses h2load's summary; the name of the first line or field it could not find otherwise.
///
/// ```text
/// Application protocol: h2c
/// finished in 2.00s, 56588.00 req/s, 1.51MB/s
/// requests: 113176 total, 113192 started, 113176 done, 113176 succeeded, 0 failed, 0 errored, 0 timeout
/// status codes: 113176 2xx, 0 3xx, 0 4xx, 0 5xx
/// time for request:       87us      3.44ms       255us        71us    91.70%
/// ```
///
/// No protocol line means no connection was ever made (h2load prints zeros then).
fn parse(stdout: &str) -> Result<H2Result, &'static str> {
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(prefix))
    };
    let protocol = line("Application protocol:")
        .ok_or("`Application protocol:` line (no connection made?)")?
        .trim()
        .to_owned();
    let finished = line("finished in ").ok_or("`finished in` line")?;
    let requests_per_second = finished
        .split(',')
        .find_map(|part| part.trim().strip_suffix(" req/s"))
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or("req/s")?;
    let requests = line("requests:").ok_or("`requests:` line")?;
    let statuses = line("status codes:").ok_or("`status codes:` line")?;
    let count = |text: &str, name: &'static str| -> Result<u64, &'static str> {
        text.split(',')
            .find_map(|part| part.trim().strip_suffix(name)?.trim().parse().ok())
            .ok_or(name)
    };
    let timing = line("time for request:").ok_or("`time for request:` line")?;
    // min, max, mean, sd, ±sd
    let mean_latency = timing
        .split_whitespace()
        .nth(2)
        .and_then(parse_duration)
        .ok_or("mean time for request")?;
    Ok(H2Result {
        protocol,
        requests_per_second,
        done: count(requests, " done")?,
        succeeded: count(requests, " succeeded")?,
        failed: count(requests, " failed")?,
        errored: count(requests, " errored")?,
        timeout: count(requests, " timeout")?,
        status_2xx: count(statuses, " 2xx")?,
        mean_latency,
    })
}

/// `87us`, `3.44ms`, `1.02s` as h2load prints them.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(number) = text.strip_suffix("us") {
        (number, 1e-6)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else {
        return None;
    };
    let seconds = number.parse::<f64>().ok()? * scale;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "starting benchmark...\n\
        spawning thread #0: 4 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.\n\
        Application protocol: h2c\n\
        Main benchmark duration is over for thread #0. Stopping all clients.\n\n\
        finished in 2.00s, 56588.00 req/s, 1.51MB/s\n\
        requests: 113176 total, 113192 started, 113176 done, 113170 succeeded, 6 failed, 0 errored, 0 timeout\n\
        status codes: 113170 2xx, 0 3xx, 0 4xx, 6 5xx\n\
        traffic: 3.02MB (3169476) total, 884.51KB (905736) headers (space savings 91.21%), 221.05KB (226352) data\n\
        \x20                    min         max         mean         sd        +/- sd\n\
        time for request:       87us      3.44ms       255us        71us    91.70%\n\
        time for connect:      215us       270us       248us        23us    75.00%\n";

    #[test]
    fn parses_the_summary_and_names_what_was_not_a_2xx() {
        let result = parse(OUTPUT);
        assert_eq!(
            result,
            Ok(H2Result {
                protocol: "h2c".into(),
                requests_per_second: 56588.0,
                done: 113_176,
                succeeded: 113_170,
                failed: 6,
                errored: 0,
                timeout: 0,
                status_2xx: 113_170,
                mean_latency: Duration::from_micros(255),
            })
        );
        assert!(result.ok().and_then(|r| r.problem()).is_some());
        let clean = OUTPUT
            .replace("113170 succeeded, 6 failed", "113176 succeeded, 0 failed")
            .replace("113170 2xx", "113176 2xx");
        assert_eq!(parse(&clean).ok().and_then(|r| r.problem()), None);
    }

    #[test]
    fn a_run_that_never_connected_or_fell_back_to_http1_is_a_problem() {
        let refused = "starting benchmark...\nfinished in 1.00s, 0.00 req/s, 0B/s\n\
            requests: 0 total, 0 started, 0 done, 0 succeeded, 0 failed, 0 errored, 0 timeout\n";
        assert!(parse(refused).is_err());
        let http1 = OUTPUT.replace("protocol: h2c", "protocol: http/1.1");
        assert!(parse(&http1)
            .ok()
            .and_then(|r| r.problem())
            .is_some_and(|problem| problem.contains("http/1.1")));
    }

    #[test]
    fn durations_in_h2loads_units() {
        assert_eq!(parse_duration("87us"), Some(Duration::from_micros(87)));
        assert_eq!(parse_duration("3.44ms"), Some(Duration::from_micros(3440)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("12"), None);
    }
}
