//! A private PostgreSQL server for the tests: one cluster in its own folder, on its own
//! loopback port, started by `cargo xtask setup` if it is not running, and handed to the tests
//! as `JITGATE_TEST_DATABASE_URL`. Tests create and drop their own databases in it.
//!
//! An existing server can be used instead by setting `JITGATE_TEST_DATABASE_URL` (a superuser
//! URL); then nothing is started. PostgreSQL refuses to run as root, so as root the cluster
//! belongs to the `postgres` user Debian's package creates, and lives outside `/root` where
//! that user can reach it.

use std::path::{Path, PathBuf};

use crate::command::Cmd;
use crate::error::Error;
use crate::system::is_root;

/// The variable tests read.
pub const DATABASE_URL_ENV: &str = "JITGATE_TEST_DATABASE_URL";
const DEFAULT_PORT: u16 = 55432;
const DEFAULT_DIR: &str = "/var/tmp/jitgate-postgres";

/// Returns the URL of a running server, starting the private one if needed, and a note.
pub fn ensure_running() -> Result<(String, String), Error> {
    if let Some(url) = std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
    {
        return Ok((
            url,
            format!("using {DATABASE_URL_ENV} from the environment"),
        ));
    }
    let bin = binaries()?;
    let dir = std::env::var("JITGATE_POSTGRES_DIR")
        .map_or_else(|_| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    let port = std::env::var("JITGATE_POSTGRES_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_PORT);
    let url = format!("postgres://jitgate@127.0.0.1:{port}/postgres");
    let data = dir.join("data");
    let mut note = Vec::new();
    if !data.join("PG_VERSION").is_file() {
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        if is_root() {
            Cmd::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .capture()?;
        }
        postgres_cmd(&bin.join("initdb"))
            .args(["-U", "jitgate", "--auth=trust", "-E", "UTF8", "-D"])
            .arg(&data)
            .capture()?;
        note.push("initialised");
    }
    let running = postgres_cmd(&bin.join("pg_ctl"))
        .arg("status")
        .arg("-D")
        .arg(&data)
        .probe()
        .is_some();
    if running {
        note.push("already running");
    } else {
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {}",
            dir.display()
        );
        postgres_cmd(&bin.join("pg_ctl"))
            .args(["start", "-w", "-t", "30", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-o", &options])
            .capture()
            .map_err(|error| error.hint(format!("see {}", dir.join("server.log").display())))?;
        note.push("started");
    }
    Ok((
        url.clone(),
        format!("{} on port {port} ({})", note.join(", "), dir.display()),
    ))
}

/// The newest installed PostgreSQL's `bin` folder.
fn binaries() -> Result<PathBuf, Error> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|_| {
            Error::Unexpected("PostgreSQL is not installed (no /usr/lib/postgresql)".into())
        })?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        Error::Unexpected("no PostgreSQL server binaries under /usr/lib/postgresql".into())
    })
}

/// A PostgreSQL program, run as `postgres` when we are root (it refuses to run as root).
fn postgres_cmd(program: &Path) -> Cmd {
    if is_root() {
        Cmd::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
    } else {
        Cmd::new(program)
    }
}
