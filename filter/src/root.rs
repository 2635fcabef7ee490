//! The per-VM background work: configuring, then on every tick fetching keys and polling
//! revocations when due, and taking in the responses. Host-independent; `crate::envoy`
//! wires it to proxy-wasm's root context.

use std::time::Duration;

use crate::config::{ConfigError, Settings};
use jitgate_grant::audit::otlp::{export_logs_request_text, Resource};

use crate::audit::buffer::BatchOutcome;
use crate::audit::AuditBuffer;
use crate::host::{CallResponse, Counter, Gauge, Level, RootHost};
use crate::metrics;
use crate::state::{Keys, VmState};

/// `partialSuccess.rejectedLogRecords` of an OTLP answer (a string or number), else 0.
fn partially_rejected(body: Option<&[u8]>) -> u64 {
    let Some(value) = body.and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
    else {
        return 0;
    };
    match value.pointer("/partialSuccess/rejectedLogRecords") {
        Some(serde_json::Value::String(text)) => text.parse().unwrap_or(0),
        Some(serde_json::Value::Number(number)) => number.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// How often the root context wakes up: a quarter of the revocation interval (so a
/// revocation lands within one interval plus a quarter at worst), never more than 250 ms.
pub fn tick_period(settings: &Settings) -> Duration {
    let ceiling = Duration::from_millis(250);
    let period = settings
        .revocation
        .as_ref()
        .map_or(ceiling, |feed| (feed.interval / 4).min(ceiling));
    period.max(Duration::from_millis(10))
}

/// Parses the configuration and sets up the VM. On error the host refuses the filter.
pub fn configure(
    host: &mut impl RootHost,
    configuration: &[u8],
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<VmState, ConfigError> {
    let settings = Settings::from_json(configuration, environment)?;
    host.set_tick_period(tick_period(&settings));
    // Define every counter now so all show as 0 before their first event.
    for counter in metrics::all() {
        host.increment(counter, 0);
    }
    let stream_id = stream_id(&settings, host.now_ms());
    let state = VmState::new(settings, stream_id);
    state.budget.prepare(host);
    host.log(
        Level::Info,
        &format!(
            "configured with {} routes",
            state.settings.policy.routes.rules().len()
        ),
    );
    Ok(state)
}

/// A stream id unique across VMs and restarts: the service name, the VM's start time and 32
/// random bits (from the host's entropy, through the standard library's hasher seed).
fn stream_id(settings: &Settings, now_ms: u64) -> String {
    use std::hash::BuildHasher;
    let service = settings
        .audit
        .as_ref()
        .map_or("jitgate-filter", |audit| audit.service_name.as_str());
    let random = std::collections::hash_map::RandomState::new().hash_one(now_ms) as u32;
    format!("{service}-{now_ms:x}-{random:08x}")
}

/// Starts whatever fetch, poll or audit batch is due.
pub fn tick(state: &mut VmState, host: &mut impl RootHost) {
    let now = host.now_ms();
    publish_metrics(state, host);
    flush_audit(state, host, now);
    if let Keys::Fetched(fetcher) = &mut state.keys {
        if fetcher.is_due(now) {
            let upstream = fetcher.settings().upstream.clone();
            match host.dispatch_get(&upstream, &upstream.path, &[]) {
                Ok(token) => fetcher.started(token),
                Err(problem) => {
                    host.increment(Counter::KeyFetchesFailed, 1);
                    host.log(
                        Level::Warn,
                        &format!(
                            "cannot fetch keys from cluster {:?}: {problem}",
                            upstream.cluster
                        ),
                    );
                    fetcher.dispatch_failed(now);
                }
            }
        }
    }
    poll_revocations(state, host, now);
}

/// Hands the request path's counts to Envoy, and the audit buffer's depth when it changed:
/// requests count in the VM ([`crate::metrics::PendingCounts`]), not with a host call each.
pub fn publish_metrics(state: &mut VmState, host: &mut impl RootHost) {
    state.counts.flush(host);
    if let Some(buffer) = &state.audit {
        let depth = buffer.depth();
        if state.published_depth != Some(depth) {
            host.set_gauge(
                Gauge::AuditBufferDepth,
                u64::try_from(depth).unwrap_or(u64::MAX),
            );
            state.published_depth = Some(depth);
        }
    }
}

/// Starts a revocation poll if one is due.
fn poll_revocations(state: &mut VmState, host: &mut impl RootHost, now: u64) {
    let Some(poller) = &mut state.revocation else {
        return;
    };
    if !poller.is_due(now) {
        return;
    }
    let upstream = poller.settings().upstream.clone();
    let path = poller.path_and_query();
    let authorization = format!("Bearer {}", poller.settings().credential);
    match host.dispatch_get(
        &upstream,
        &path,
        &[("authorization", authorization.as_str())],
    ) {
        Ok(token) => poller.started(token),
        Err(problem) => {
            host.increment(Counter::RevocationPollsFailed, 1);
            host.log(
                Level::Warn,
                &format!(
                    "cannot poll revocations from cluster {:?}: {problem}",
                    upstream.cluster
                ),
            );
            poller.dispatch_failed(now);
        }
    }
}

/// Sends every batch that is due: one normally, several while a backlog drains (the
/// buffer decides, see `crate::audit::buffer`).
fn flush_audit(state: &mut VmState, host: &mut impl RootHost, now: u64) {
    let (Some(buffer), Some(settings)) = (state.audit.as_mut(), state.settings.audit.as_ref())
    else {
        return;
    };
    loop {
        let retrying = buffer.is_retrying();
        let Some(batch) = buffer.next_batch(now) else {
            return;
        };
        let resource = Resource {
            service_name: settings.service_name.clone(),
            instance_id: buffer.stream_id().to_owned(),
        };
        let records: Vec<&str> = batch.records.iter().map(String::as_str).collect();
        let body = export_logs_request_text(&resource, env!("CARGO_PKG_VERSION"), &records);
        let authorization = settings
            .credential
            .as_ref()
            .map(|credential| format!("Bearer {credential}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        match host.dispatch_post(&settings.upstream, &headers, body.as_bytes()) {
            Ok(token) => {
                buffer.sent(token, &batch);
                if retrying {
                    host.increment(Counter::AuditRetried, 1);
                }
            }
            Err(problem) => {
                host.increment(Counter::AuditBatchesFailed, 1);
                let cluster = &settings.upstream.cluster;
                host.log(
                    Level::Warn,
                    &format!("cannot send audit records to cluster {cluster:?}: {problem}"),
                );
                buffer.dispatch_failed(now);
                return;
            }
        }
    }
}

/// Applies the collector's answer to an audit batch.
fn on_audit_response(
    buffer: &mut AuditBuffer,
    host: &mut impl RootHost,
    token: u32,
    response: &CallResponse,
    now: u64,
) {
    let outcome = match response.status {
        Some(200..=299) => BatchOutcome::Accepted,
        Some(400 | 413) => BatchOutcome::Rejected,
        _ => BatchOutcome::Retry,
    };
    let removed = u64::try_from(buffer.on_response(token, outcome, now)).unwrap_or(0);
    match outcome {
        BatchOutcome::Accepted => {
            let rejected = partially_rejected(response.body.as_deref()).min(removed);
            host.increment(Counter::AuditSent, removed - rejected);
            if rejected > 0 {
                host.increment(Counter::AuditRejected, rejected);
                host.log(
                    Level::Warn,
                    &format!("the collector refused {rejected} audit records"),
                );
            }
        }
        BatchOutcome::Rejected => {
            host.increment(Counter::AuditRejected, removed);
            let status = response.status.unwrap_or(0);
            host.log(
                Level::Error,
                &format!(
                    "the collector refused a batch of {removed} audit records (HTTP {status})"
                ),
            );
        }
        BatchOutcome::Retry => {
            host.increment(Counter::AuditBatchesFailed, 1);
            let status = response
                .status
                .map_or("no answer".to_owned(), |status| format!("HTTP {status}"));
            host.log(
                Level::Warn,
                &format!("audit batch not accepted ({status}); will retry"),
            );
        }
    }
}

/// Takes in the response to call `token`.
pub fn on_call_response(
    state: &mut VmState,
    host: &mut impl RootHost,
    token: u32,
    response: &CallResponse,
) {
    let now = host.now_ms();
    if let Some(buffer) = state
        .audit
        .as_mut()
        .filter(|buffer| buffer.owns_call(token))
    {
        on_audit_response(buffer, host, token, response, now);
        // Send the next batch now if one is due, not a tick later: with one batch in flight
        // and batches only on ticks, a VM could ship at most one batch per tick (400 records/s
        // at the default 100-record batches and 250 ms ticks), and under more load than that
        // the buffer filled and requests got 503 audit_unavailable (measured by
        // `cargo xtask bench`). After a failure the backoff keeps the next try for later.
        flush_audit(state, host, now);
        publish_metrics(state, host);
        return;
    }
    if let Keys::Fetched(fetcher) = &mut state.keys {
        if fetcher.owns_call(token) {
            let first = fetcher.keys().is_none();
            match fetcher.on_response(response, now) {
                Ok(count) => {
                    host.increment(Counter::KeyFetchesOk, 1);
                    let level = if first { Level::Info } else { Level::Debug };
                    host.log(level, &format!("loaded {count} verification keys"));
                }
                Err(problem) => {
                    host.increment(Counter::KeyFetchesFailed, 1);
                    host.log(Level::Warn, &format!("key fetch failed: {problem}"));
                }
            }
            return;
        }
    }
    if let Some(poller) = &mut state.revocation {
        if poller.owns_call(token) {
            match poller.on_response(response, now) {
                Ok(polled) => {
                    host.increment(Counter::RevocationPollsOk, 1);
                    if polled.revocations > 0 {
                        host.log(
                            Level::Info,
                            &format!("{} grants revoked", polled.revocations),
                        );
                    }
                }
                Err(problem) => {
                    host.increment(Counter::RevocationPollsFailed, 1);
                    host.log(Level::Warn, &format!("revocation poll failed: {problem}"));
                }
            }
            // A page that said `more`, or a restart after 410, makes the next poll due now:
            // send it now, not a tick later — a VM catching up on N revocations would
            // otherwise need N/1000 ticks, refusing every token meanwhile.
            poll_revocations(state, host, now);
        }
    }
}
