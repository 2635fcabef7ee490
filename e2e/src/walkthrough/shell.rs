//! One bash session for the whole walkthrough, as a reader's terminal would be: variables and
//! `source`d settings carry from one command to the next. Each command's stdout and stderr
//! are captured together up to a marker line the session prints after it; every command has a
//! deadline, so a hung step fails the test instead of hanging it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Printed after each command; never part of any real output.
const MARKER: &str = "@@jitgate-walkthrough-step-done@@";

/// A running bash.
#[derive(Debug)]
pub struct Shell {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Shell {
    /// Starts `bash` (no profile, no rc files) in `dir` with exactly the environment `env`,
    /// so nothing from the caller's (a `JITGATE_TOKEN`, say) leaks into the walkthrough.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Result<Shell> {
        let mut command = Command::new("bash");
        command
            .env_clear()
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(Error::io("start bash"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Usage("bash has no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Usage("bash has no stdout".into()))?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut shell = Shell {
            child,
            stdin,
            lines,
        };
        // Everything a command prints, errors included, lands in its captured output.
        shell.run("exec 2>&1", Duration::from_secs(5))?;
        Ok(shell)
    }

    /// Runs `command` and returns what it printed, or times out after `timeout`.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<String> {
        // The marker starts on a fresh line even when the output does not end with one.
        let script = format!("{command}\nprintf '\\n{MARKER}\\n'\n");
        self.stdin
            .write_all(script.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(Error::io("write to bash"))?;
        let deadline = Instant::now() + timeout;
        let mut output = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == MARKER => break,
                Ok(line) => output.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Error::Timeout {
                        what: format!("`{command}` to finish (output so far: {output:?})"),
                        waited: timeout,
                    })
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Usage(format!(
                        "bash exited while running `{command}` (output: {output:?})"
                    )))
                }
            }
        }
        // The empty line before the marker belongs to the marker.
        if output.last().is_some_and(String::is_empty) {
            output.pop();
        }
        Ok(output.join("\n"))
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_carry_over_and_stderr_is_captured() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell =
            Shell::start(dir.path(), &[("GREETING", "hi"), ("PATH", "/usr/bin:/bin")]).unwrap();
        let step = Duration::from_secs(5);
        assert_eq!(shell.run("X=42", step).unwrap(), "");
        assert_eq!(shell.run("echo $X $GREETING", step).unwrap(), "42 hi");
        assert_eq!(shell.run("echo oops >&2", step).unwrap(), "oops");
        assert_eq!(
            shell.run("printf 'no newline'", step).unwrap(),
            "no newline"
        );
    }

    #[test]
    fn a_hung_command_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = Shell::start(dir.path(), &[("PATH", "/usr/bin:/bin")]).unwrap();
        let error = shell.run("sleep 5", Duration::from_millis(200)).err();
        assert!(matches!(error, Some(Error::Timeout { .. })), "{error:?}");
    }
}
