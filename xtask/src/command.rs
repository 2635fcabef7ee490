//! Running other programs: one small builder that can show a command line the way a person
//! would type it, run it with its output live, or capture its output and keep the tail for the
//! error message. Stdin is always closed: CI has none, and nothing here may wait for a human.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::error::Error;

/// How many lines of a failed command's captured output end up in the error message.
const TAIL_LINES: usize = 25;

/// A program to run, with its arguments, extra environment and working directory.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    /// What to call the program when showing the command (`cargo` rather than the full path
    /// cargo put in `$CARGO`).
    label: String,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    path_prefix: Option<PathBuf>,
    current_dir: Option<PathBuf>,
}

/// What a captured command printed, once it has succeeded.
#[derive(Debug)]
pub struct Captured {
    /// Standard output and standard error, in that order.
    pub text: String,
}

impl Cmd {
    /// A command running `program`, shown as it is written.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref().to_os_string();
        let label = program.to_string_lossy().into_owned();
        Cmd {
            program,
            label,
            args: Vec::new(),
            envs: Vec::new(),
            path_prefix: None,
            current_dir: None,
        }
    }

    /// The cargo that started xtask (`$CARGO`), so nested builds use the same toolchain.
    pub fn cargo() -> Self {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        Cmd {
            label: "cargo".to_owned(),
            ..Cmd::new(program)
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Puts `dir` first on the program's `PATH`.
    pub fn path_prefix(mut self, dir: impl Into<PathBuf>) -> Self {
        self.path_prefix = Some(dir.into());
        self
    }

    /// Runs the program in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Runs the program with its output shown live, failing unless it exits with 0.
    pub fn run(&self) -> Result<(), Error> {
        println!("$ {self}");
        let status = self
            .command()
            .stdin(Stdio::null())
            .status()
            .map_err(|source| self.spawn_error(source))?;
        self.check(status, None)
    }

    /// Runs the program quietly and returns what it printed, failing unless it exits with 0;
    /// the error then carries the tail of its output.
    pub fn capture(&self) -> Result<Captured, Error> {
        let output = self.output()?;
        let text = combined_text(&output);
        self.check(output.status, Some(tail(&text, TAIL_LINES)))?;
        Ok(Captured { text })
    }

    /// Runs the program quietly and returns what it printed if it succeeded, `None` if it could
    /// not start or failed: for probing whether a tool is installed.
    pub fn probe(&self) -> Option<String> {
        let output = self.output().ok()?;
        output.status.success().then(|| combined_text(&output))
    }

    fn output(&self) -> Result<Output, Error> {
        self.command()
            .stdin(Stdio::null())
            .output()
            .map_err(|source| self.spawn_error(source))
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        if let Some(prefix) = &self.path_prefix {
            command.env("PATH", prefixed_path(prefix));
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }

    fn check(&self, status: ExitStatus, output_tail: Option<String>) -> Result<(), Error> {
        if status.success() {
            return Ok(());
        }
        let exit = match status.code() {
            Some(code) => format!("exited with code {code}"),
            None => "was killed by a signal".to_owned(),
        };
        Err(Error::Failed {
            command: self.to_string(),
            exit,
            output_tail,
        })
    }

    fn spawn_error(&self, source: std::io::Error) -> Error {
        Error::Spawn {
            command: self.to_string(),
            source,
        }
    }
}

/// Shows the command as a shell line a person could copy: `KEY=value program args…`.
impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(prefix) = &self.path_prefix {
            write!(f, "PATH={}:$PATH ", shell_word(prefix.as_os_str()))?;
        }
        for (key, value) in &self.envs {
            write!(f, "{}={} ", key.to_string_lossy(), shell_word(value))?;
        }
        write!(f, "{}", shell_word(OsStr::new(&self.label)))?;
        for arg in &self.args {
            write!(f, " {}", shell_word(arg))?;
        }
        Ok(())
    }
}

fn prefixed_path(prefix: &Path) -> OsString {
    let mut dirs = vec![prefix.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    // join_paths only fails on a directory containing the separator; fall back to the prefix
    // alone rather than lose it.
    std::env::join_paths(dirs).unwrap_or_else(|_| prefix.as_os_str().to_os_string())
}

fn shell_word(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn combined_text(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_environment_then_label_then_quoted_arguments() {
        let cmd = Cmd::cargo()
            .args(["test", "-p", "jitgate-e2e", "--", "a b"])
            .env("JITGATE_ENVOY", "/t/envoy");
        assert_eq!(
            cmd.to_string(),
            "JITGATE_ENVOY=/t/envoy cargo test -p jitgate-e2e -- 'a b'"
        );
    }

    #[test]
    fn tail_keeps_only_the_last_lines() {
        assert_eq!(tail("1\n2\n3\n4", 2), "3\n4");
        assert_eq!(tail("only", 5), "only");
    }
}
