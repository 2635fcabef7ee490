//! What can stop a benchmark run: the harness failing to start something, a tool missing, or
//! a configuration not serving its requests as expected (which is never a speed judgement).

use std::path::PathBuf;

/// Everything that can go wrong in a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The end-to-end harness (Envoy, issuer, collector, stubs) failed.
    #[error(transparent)]
    Harness(#[from] crate::Error),
    /// A command-line tool the benchmark needs is not installed.
    #[error("`{tool}` not found: {hint}")]
    ToolMissing {
        /// The program.
        tool: String,
        /// How to get it.
        hint: String,
    },
    /// A tool ran but failed or printed something unexpected.
    #[error("{tool} failed: {detail}")]
    ToolFailed {
        /// The program.
        tool: String,
        /// Its exit status and the tail of its output.
        detail: String,
    },
    /// A configuration answered with something other than the expected status, or the
    /// load generator saw errors: the figures would be meaningless.
    #[error("configuration {configuration}: {problem}")]
    Unexpected {
        /// Which configuration.
        configuration: String,
        /// What was seen.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A revocation trial did not go as the issuer's API says it should.
    #[error("revocation trial: {0}")]
    Revocation(String),
    /// A breach trial (the guard ending a grant over its fleet budget) went wrong.
    #[error("breach trial: {0}")]
    Breach(String),
    /// A recovery trial (collector killed under load, restarted) went wrong.
    #[error("recovery trial: {0}")]
    Recovery(String),
    /// The command line was wrong.
    #[error("{0}")]
    Usage(String),
}

impl BenchError {
    /// A closure turning an I/O error on `path` into a [`BenchError::File`].
    pub fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::File { path, source }
    }
}
