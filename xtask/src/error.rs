//! The one error type of xtask: every failure says what was attempted (the command, the file,
//! the setup step) and why, so a red CI log can be read without rerunning anything.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in a dev task.
#[derive(Debug)]
pub enum Error {
    /// The command line could not be understood; the usage text follows it.
    Usage(String),
    /// A program could not be started at all (not installed, not on `PATH`).
    Spawn { command: String, source: io::Error },
    /// A program ran and did not succeed.
    Failed {
        command: String,
        exit: String,
        /// The last lines it wrote, when its output was captured rather than shown live.
        output_tail: Option<String>,
    },
    /// A file or directory could not be read, written or created.
    Io { path: PathBuf, source: io::Error },
    /// A tool or file did not say what we need from it (a version, a path, an artifact).
    Unexpected(String),
    /// One step of `cargo xtask setup` failed.
    Setup { step: String, source: Box<Error> },
    /// Some steps of `cargo xtask test` failed; each was reported as it failed.
    StepsFailed { failed: usize },
    /// Another error, with what to do about it.
    Hinted { source: Box<Error>, hint: String },
}

impl Error {
    /// The process exit code this error should produce: 2 for usage errors, as is customary.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Hinted { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// Adds what the reader should do about this error.
    pub fn hint(self, hint: impl Into<String>) -> Error {
        Error::Hinted {
            source: Box::new(self),
            hint: hint.into(),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => write!(f, "{message}"),
            Error::Spawn { command, source } => {
                write!(f, "could not start `{command}`: {source}")
            }
            Error::Failed {
                command,
                exit,
                output_tail,
            } => {
                write!(f, "`{command}` {exit}")?;
                if let Some(tail) = output_tail {
                    write!(f, "\n  its output ended with:")?;
                    for line in tail.lines() {
                        write!(f, "\n  | {line}")?;
                    }
                }
                Ok(())
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Unexpected(message) => write!(f, "{message}"),
            Error::Setup { step, source } => write!(f, "setup step '{step}' failed: {source}"),
            Error::StepsFailed { failed } => {
                let steps = if *failed == 1 { "step" } else { "steps" };
                write!(f, "{failed} {steps} failed")
            }
            Error::Hinted { source, hint } => write!(f, "{source}\n  hint: {hint}"),
        }
    }
}

impl std::error::Error for Error {}
