//! Bounded waiting: every wait in the harness has a deadline and says what it waited for.

use std::process::{Child, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often conditions are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `check` until it yields a value, fails, or `timeout` passes.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: timeout,
            });
        }
        sleep(POLL_INTERVAL);
    }
}

/// Polls `check` until it holds or `limit` passes; how long it took, or `None` if it never
/// held. For tests that wait for the gate to change its mind (keys loaded, a revocation
/// seen, a token expired) and assert on the answer themselves.
pub fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        sleep(POLL_INTERVAL);
    }
    None
}

/// Waits up to `timeout` for a child process to exit; `None` if it is still running.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let result = wait_until("process exit", timeout, || {
        child.try_wait().map_err(Error::io("poll a child process"))
    });
    match result {
        Ok(status) => Ok(Some(status)),
        Err(Error::Timeout { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}
