//! Collector ingest rate: runs the release build of jitgate-collector's `ingest_bench`
//! example (OTLP JSON bodies → committed, Merkle-logged records) on SQLite and, when
//! `JITGATE_TEST_DATABASE_URL` names a PostgreSQL server, on a database made for the run and
//! dropped after it.

use std::path::Path;
use std::process::Command;

use crate::bench::error::BenchError;

/// The PostgreSQL superuser URL `cargo xtask setup` exports for tests.
const DATABASE_URL_ENV: &str = "JITGATE_TEST_DATABASE_URL";

/// Records per second on each store.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestFigures {
    /// `(store, records/s, the line ingest_bench printed)`.
    pub stores: Vec<(String, f64, String)>,
    /// Why PostgreSQL was not measured, when it was not.
    pub postgres_skipped: Option<String>,
}

/// Runs `binary --records <records>` (plus `--postgres` when a server is configured).
pub fn measure(binary: &Path, records: u64) -> Result<IngestFigures, BenchError> {
    let mut command = Command::new(binary);
    command.args(["--records", &records.to_string()]);
    let database = match std::env::var(DATABASE_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(ScratchDatabase::create(&url)?),
        _ => None,
    };
    if let Some(database) = &database {
        command.args(["--postgres", &database.url]);
    }
    let output = command.output().map_err(|error| BenchError::ToolFailed {
        tool: binary.display().to_string(),
        detail: error.to_string(),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(BenchError::ToolFailed {
            tool: "ingest_bench".into(),
            detail: format!(
                "{}: {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    let stores = stdout.lines().filter_map(parse_line).collect();
    eprintln!("bench: ingest: {}", stdout.trim());
    Ok(IngestFigures {
        stores,
        postgres_skipped: database
            .is_none()
            .then(|| format!("{DATABASE_URL_ENV} not set")),
    })
}

/// `sqlite: 200000 records in … = 14000 records/s` → `("sqlite", 14000.0, line)`.
fn parse_line(line: &str) -> Option<(String, f64, String)> {
    let (store, rest) = line.split_once(": ")?;
    let rate = rest
        .rsplit_once(" = ")?
        .1
        .strip_suffix(" records/s")?
        .parse()
        .ok()?;
    Some((store.to_owned(), rate, line.to_owned()))
}

/// A database created with `psql` for one ingest run and dropped afterwards.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    fn create(admin_url: &str) -> Result<ScratchDatabase, BenchError> {
        let name = format!("jitgate_bench_{}", std::process::id());
        let (base, _) = admin_url
            .rsplit_once('/')
            .ok_or_else(|| BenchError::Usage(format!("{DATABASE_URL_ENV} is not a URL")))?;
        let database = ScratchDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        };
        database.psql(&format!("DROP DATABASE IF EXISTS {}", database.name))?;
        database.psql(&format!("CREATE DATABASE {}", database.name))?;
        Ok(database)
    }

    fn psql(&self, statement: &str) -> Result<(), BenchError> {
        let output = Command::new("psql")
            .args([
                self.admin_url.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                statement,
            ])
            .output()
            .map_err(|_| BenchError::ToolMissing {
                tool: "psql".into(),
                hint: "run `cargo xtask setup` as root (Debian package `postgresql`)".into(),
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(BenchError::ToolFailed {
                tool: format!("psql -c {statement:?}"),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Best effort: a leftover scratch database is dropped by the next run's create.
        let _ = self.psql(&format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ingest_bench_lines() {
        let line =
            "sqlite: 200000 records in batches of 1000 from 4 senders in 12.50 s = 16000 records/s";
        assert_eq!(
            parse_line(line),
            Some(("sqlite".to_owned(), 16000.0, line.to_owned()))
        );
        assert_eq!(parse_line("ingest_bench: temp dir: x"), None);
    }
}
