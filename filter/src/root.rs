//! The per-VM background work: configuring, then on every tick fetching keys and polling
//! revocations when due, and taking in the responses. Host-independent; `crate::envoy`
//! wires it to proxy-wasm's root context.

use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::host::{CallResponse, Counter, Level, RootHost};
use crate::metrics;
use crate::state::{Keys, VmState};

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
    let state = VmState::new(settings);
    host.log(
        Level::Info,
        &format!(
            "configured with {} routes",
            state.settings.policy.routes.rules().len()
        ),
    );
    Ok(state)
}

/// Starts whatever fetch or poll is due.
pub fn tick(state: &mut VmState, host: &mut impl RootHost) {
    let now = host.now_ms();
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
    if let Some(poller) = &mut state.revocation {
        if poller.is_due(now) {
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
                Ok(count) => {
                    host.increment(Counter::RevocationPollsOk, 1);
                    if count > 0 {
                        host.log(Level::Info, &format!("{count} grants revoked"));
                    }
                }
                Err(problem) => {
                    host.increment(Counter::RevocationPollsFailed, 1);
                    host.log(Level::Warn, &format!("revocation poll failed: {problem}"));
                }
            }
        }
    }
}
