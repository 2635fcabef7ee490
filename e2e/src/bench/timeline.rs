//! What a gateway answered over time, while something else happens to it: a probe client
//! sending one request every few milliseconds (each on its own connection, so none waits
//! behind the load's connections for a keep-alive slot) and timestamping every answer, and
//! Envoy's own count of 5xx answers (`http.ingress_http.downstream_rq_5xx`, which counts
//! every request the gate refuses, the load's too) sampled every few tens of milliseconds.
//!
//! The probe gives the first 200 to within a few milliseconds; the counter says whether *any*
//! request was refused, which a probe alone could miss between two of its calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::envoy::Envoy;
use crate::raw_http::RawRequest;

/// Pause between two probe requests.
pub const PROBE_GAP: Duration = Duration::from_millis(2);
/// Pause between two reads of the 5xx counter.
pub const SAMPLE_GAP: Duration = Duration::from_millis(20);

/// One probe request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    /// When the answer had arrived.
    pub at: Instant,
    /// Its status; 0 when there was none (the connection failed).
    pub status: u16,
    /// The deny body's `reason`, or what went wrong without an answer.
    pub reason: String,
}

/// Everything seen so far, shared between the probe and sampler threads and the trial.
#[derive(Debug, Default)]
pub struct Timeline {
    answers: Mutex<Vec<ProbeAnswer>>,
    samples: Mutex<Vec<(Instant, u64)>>,
    stop: AtomicBool,
}

impl Timeline {
    /// Sends the probe request to `envoy` until [`Timeline::stop`]: one thread's work.
    pub fn probe(&self, envoy: &Envoy, request: RawRequest<'_>) {
        while !self.stop.load(Ordering::Relaxed) {
            let answer = match envoy.raw(request) {
                Ok(response) => ProbeAnswer {
                    at: Instant::now(),
                    status: response.status,
                    reason: serde_json::from_slice::<Value>(&response.body)
                        .ok()
                        .and_then(|body| body["reason"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                },
                Err(error) => ProbeAnswer {
                    at: Instant::now(),
                    status: 0,
                    reason: error.to_string(),
                },
            };
            if let Ok(mut answers) = self.answers.lock() {
                answers.push(answer);
            }
            std::thread::sleep(PROBE_GAP);
        }
    }

    /// Reads `envoy`'s 5xx counter until [`Timeline::stop`]: one thread's work.
    pub fn sample(&self, envoy: &Envoy) {
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(count) = server_errors(envoy) {
                if let Ok(mut samples) = self.samples.lock() {
                    samples.push((Instant::now(), count));
                }
            }
            std::thread::sleep(SAMPLE_GAP);
        }
    }

    /// Ends both threads' loops.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The first probe answer after `since` that `matches`.
    pub fn first_answer(
        &self,
        since: Instant,
        matches: impl Fn(&ProbeAnswer) -> bool,
    ) -> Option<ProbeAnswer> {
        let answers = self.answers.lock().ok()?;
        answers
            .iter()
            .find(|answer| answer.at > since && matches(answer))
            .cloned()
    }

    /// The last probe answer, if any.
    pub fn last_answer(&self) -> Option<ProbeAnswer> {
        self.answers.lock().ok()?.last().cloned()
    }

    /// The 5xx count at `at`: the last sample taken by then (the first one if none was).
    pub fn errors_at(&self, at: Instant) -> Option<u64> {
        let samples = self.samples.lock().ok()?;
        samples
            .iter()
            .take_while(|(time, _)| *time <= at)
            .last()
            .or_else(|| samples.first())
            .map(|(_, count)| *count)
    }

    /// The latest 5xx count, and the first sample that showed it: no request was refused
    /// between then and the latest sample.
    pub fn errors_settled(&self) -> Option<(u64, Instant)> {
        let samples = self.samples.lock().ok()?;
        let (_, latest) = *samples.last()?;
        let since = samples
            .iter()
            .rev()
            .take_while(|(_, count)| *count == latest)
            .last()
            .map(|(time, _)| *time)?;
        Some((latest, since))
    }
}

/// `http.ingress_http.downstream_rq_5xx` from Envoy's admin (plain text, filtered: cheaper
/// for Envoy's main thread than the whole Prometheus page every 20 ms).
fn server_errors(envoy: &Envoy) -> Option<u64> {
    let response = envoy
        .admin(RawRequest::get(
            "/stats?filter=ingress_http.downstream_rq_5xx",
        ))
        .ok()?;
    if response.status != 200 {
        return None;
    }
    response.text().lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .ends_with("ingress_http.downstream_rq_5xx")
            .then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_at_a_time_and_settled_from_the_first_sample_showing_them() {
        let timeline = Timeline::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        if let Ok(mut samples) = timeline.samples.lock() {
            samples.extend([
                (at(0), 5),
                (at(20), 9),
                (at(40), 12),
                (at(60), 12),
                (at(80), 12),
            ]);
        }
        assert_eq!(timeline.errors_at(at(30)), Some(9));
        assert_eq!(timeline.errors_at(start), Some(5));
        assert_eq!(timeline.errors_settled(), Some((12, at(40))));
    }
}
