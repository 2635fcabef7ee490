//! The real audit collector as a child process (`jitgate collector serve`), which tests can
//! kill and start again on the same port and data folder, as an operator's restart would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::paths::jitgate_binary;
use crate::raw_http::{self, RawRequest};

/// A collector process.
#[derive(Debug)]
pub struct CollectorProcess {
    binary: PathBuf,
    data_dir: PathBuf,
    addr: SocketAddr,
    sender: String,
    reviewer: String,
    child: Option<Child>,
}

impl CollectorProcess {
    /// Starts `jitgate collector serve` on `addr` with its data in `data_dir`.
    pub fn start(
        data_dir: &Path,
        addr: SocketAddr,
        sender: &str,
        reviewer: &str,
    ) -> Result<CollectorProcess> {
        let mut collector = CollectorProcess {
            binary: jitgate_binary()?,
            data_dir: data_dir.to_path_buf(),
            addr,
            sender: sender.to_owned(),
            reviewer: reviewer.to_owned(),
            child: None,
        };
        collector.restart()?;
        Ok(collector)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The checkpoint verifier key file it wrote.
    pub fn verifier_key_file(&self) -> PathBuf {
        self.data_dir.join("checkpoint-verifier.key")
    }

    /// Kills it at once (no graceful shutdown), like a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and data, and waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let log = std::fs::File::create(self.data_dir.join("collector.log"))
            .map_err(Error::io("create the collector log"))?;
        let child = Command::new(&self.binary)
            .args([
                "collector",
                "serve",
                "--listen",
                &self.addr.to_string(),
                "--checkpoint-interval",
                "1s",
            ])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("JITGATE_COLLECTOR_SENDER_CREDENTIALS", &self.sender)
            .env("JITGATE_COLLECTOR_REVIEWER_CREDENTIALS", &self.reviewer)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(Error::io("start jitgate collector serve"))?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Ok(response) = raw_http::send(self.addr, RawRequest::get("/v1/checkpoint/key")) {
                if response.status == 200 {
                    return Ok(());
                }
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(Error::Timeout {
                    what: "the collector to answer".into(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `jitgate audit …` with the reviewer credential; returns (success, stdout+stderr).
    pub fn audit(&self, args: &[&str]) -> Result<(bool, String)> {
        let output = Command::new(&self.binary)
            .arg("audit")
            .args(args)
            .env("JITGATE_COLLECTOR_URL", self.url())
            .env("JITGATE_AUDIT_CREDENTIAL", &self.reviewer)
            .output()
            .map_err(Error::io("run jitgate audit"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
