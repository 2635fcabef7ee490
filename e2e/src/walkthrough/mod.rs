//! The README walkthrough, run for real: every `$ command` of the walkthrough section in one
//! bash session against a running [`crate::devstack::DevStack`], each output compared with
//! what the README shows (ids, times and ports masked; see [`normalize`]). So the README
//! cannot silently rot: change a message and the test names the step whose output changed.
//!
//! Bless mode (`JITGATE_BLESS=1`) writes the fresh output — and the fresh request ids in the
//! commands that use them — back into the README instead of comparing.

pub mod normalize;
pub mod readme;
pub mod shell;

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use self::normalize::Normalizer;
use self::readme::Step;
use self::shell::Shell;
use crate::error::{Error, Result};

/// The longest any one walkthrough command may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Compare with the README, or write the fresh output into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fail on the first step whose output differs.
    Check,
    /// Rewrite the README with this run's commands and outputs.
    Bless,
}

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    /// How many steps ran.
    pub steps_run: usize,
    /// The first step whose output differed (check mode), explained.
    pub mismatch: Option<String>,
}

/// Runs the walkthrough of `readme_path` in `work_dir` (where the stack's data folder is
/// `.jitgate`), with `env` as the whole environment of the session. `settle` runs after
/// every step: it waits until the stack has caught up (the gate's audit records shipped), as
/// it would have while a person read the next paragraph.
pub fn run(
    readme_path: &Path,
    work_dir: &Path,
    env: &[(&str, &str)],
    mode: Mode,
    settle: &mut dyn FnMut() -> Result<()>,
) -> Result<Outcome> {
    let readme = std::fs::read_to_string(readme_path)
        .map_err(Error::io(format!("read {}", readme_path.display())))?;
    let steps = readme::parse(&readme)?;
    if steps.is_empty() {
        return Err(Error::Usage(
            "the README walkthrough has no commands".into(),
        ));
    }
    let mut shell = Shell::start(work_dir, env)?;
    let mut documented = Normalizer::new()?;
    let mut observed = Normalizer::new()?;
    let mut commands = Vec::new();
    let mut outputs = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let command = with_real_ids(step, &documented, &observed)?;
        let output = shell.run(&command, STEP_TIMEOUT)?;
        settle()?;
        let expected = documented.normalize(&step.expected.join("\n"));
        let actual = observed.normalize(&output);
        if mode == Mode::Check && expected != actual {
            return Ok(Outcome {
                steps_run: index + 1,
                mismatch: Some(explain(index, step, &expected, &actual)),
            });
        }
        commands.push(command);
        outputs.push(output);
    }
    if mode == Mode::Bless {
        let rewritten = readme::rewrite(&readme, &steps, &commands, &outputs);
        std::fs::write(readme_path, rewritten)
            .map_err(Error::io(format!("write {}", readme_path.display())))?;
    }
    Ok(Outcome {
        steps_run: steps.len(),
        mismatch: None,
    })
}

/// The step's command with each request id the README showed earlier replaced by the id
/// this run got in the same place.
fn with_real_ids(step: &Step, documented: &Normalizer, observed: &Normalizer) -> Result<String> {
    let mut command = step.command.clone();
    for id in documented.ids_in(&step.command) {
        let real = documented
            .number(id)
            .and_then(|n| observed.id(n))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "the README command `{}` uses {id}, which no earlier output showed",
                    step.command
                ))
            })?;
        command = command.replace(id, real);
    }
    Ok(command)
}

fn explain(index: usize, step: &Step, expected: &str, actual: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "walkthrough step {} differs from the README:",
        index + 1
    );
    let _ = writeln!(out, "$ {}", step.command);
    let _ = writeln!(out, "--- README (normalized) ---\n{expected}");
    let _ = writeln!(out, "--- this run (normalized) ---\n{actual}");
    let _ = writeln!(
        out,
        "--- if the change is intended, rewrite the README's outputs with \
         JITGATE_BLESS=1 cargo test -p jitgate-e2e --test walkthrough"
    );
    out
}
