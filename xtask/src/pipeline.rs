//! A run of named, timed steps for `cargo xtask test`: each step is announced with a header,
//! the run stops at the first failure, and it always ends with a summary table and the line
//! `N passed, M failed`. A step may be skipped only out loud, with its reason, in the log and
//! in the summary.

use std::time::{Duration, Instant};

use crate::elapsed;
use crate::error::Error;

/// The steps run so far and how each went.
#[derive(Debug)]
pub struct Pipeline {
    planned: &'static [&'static str],
    results: Vec<StepResult>,
}

/// Returned by a step that failed: the pipeline has reported it, the caller should stop.
#[derive(Debug)]
pub struct Stopped;

#[derive(Debug)]
struct StepResult {
    name: &'static str,
    status: Status,
    duration: Duration,
}

#[derive(Debug)]
enum Status {
    Passed,
    Skipped(String),
    Failed,
}

impl Pipeline {
    /// A pipeline that will run the `planned` steps in this order.
    pub fn new(planned: &'static [&'static str]) -> Self {
        Pipeline {
            planned,
            results: Vec::new(),
        }
    }

    /// Runs one step under its header and records how long it took.
    pub fn step<T>(
        &mut self,
        name: &'static str,
        body: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Stopped> {
        println!("\n==> [{}] {name}", self.position(name));
        let started = Instant::now();
        let outcome = body();
        let duration = started.elapsed();
        let time = elapsed::human(duration);
        match outcome {
            Ok(value) => {
                println!("==> {name}: passed in {time}");
                self.record(name, Status::Passed, duration);
                Ok(value)
            }
            Err(error) => {
                println!("==> {name}: FAILED after {time}");
                println!("    {}", error.to_string().replace('\n', "\n    "));
                self.record(name, Status::Failed, duration);
                Err(Stopped)
            }
        }
    }

    /// Records a step that cannot run yet, saying why, so nobody mistakes it for a pass.
    pub fn skip(&mut self, name: &'static str, reason: String) {
        println!("\n==> [{}] {name}", self.position(name));
        println!("==> {name}: SKIPPED: {reason}");
        self.record(name, Status::Skipped(reason), Duration::ZERO);
    }

    /// Prints the summary; an error when any step failed.
    pub fn finish(self) -> Result<(), Error> {
        let width = self
            .planned
            .iter()
            .map(|name| name.len())
            .max()
            .unwrap_or(0);
        println!("\n==> summary");
        for name in self.planned {
            let (result, time) = match self.results.iter().find(|r| r.name == *name) {
                Some(result) => (result.status.word(), elapsed::human(result.duration)),
                None => ("not run", String::new()),
            };
            println!("    {name:<width$}  {result:<7}  {time:>7}");
        }
        let passed = self.count(|status| matches!(status, Status::Passed));
        let failed = self.count(|status| matches!(status, Status::Failed));
        for result in &self.results {
            if let Status::Skipped(reason) = &result.status {
                println!("skipped {}: {reason}", result.name);
            }
        }
        println!("{passed} passed, {failed} failed");
        if failed == 0 {
            Ok(())
        } else {
            Err(Error::StepsFailed { failed })
        }
    }

    fn position(&self, name: &str) -> String {
        let index = self.planned.iter().position(|planned| *planned == name);
        let number = index.map_or_else(|| "?".to_owned(), |index| (index + 1).to_string());
        format!("{number}/{}", self.planned.len())
    }

    fn record(&mut self, name: &'static str, status: Status, duration: Duration) {
        self.results.push(StepResult {
            name,
            status,
            duration,
        });
    }

    fn count(&self, wanted: impl Fn(&Status) -> bool) -> usize {
        self.results.iter().filter(|r| wanted(&r.status)).count()
    }
}

impl Status {
    fn word(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Skipped(_) => "SKIPPED",
            Status::Failed => "FAILED",
        }
    }
}
