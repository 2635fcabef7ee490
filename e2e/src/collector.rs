//! The real audit collector as a child process (`jitgate collector serve`), which tests can
//! kill and start again on the same port and data folder, as an operator's restart would.
//! Each sender (a gateway deployment, the issuer) gets its own credential, bound to its
//! streams, written to an owner-only file the collector reads (`--sender KIND:PREFIX:FILE`).

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::paths::jitgate_binary;
use crate::raw_http::{self, RawRequest};

/// The filter's default `audit.service_name`: its VMs' streams are `jitgate-filter-…`.
pub const FILTER_SERVICE_NAME: &str = "jitgate-filter";

/// What one sender may write: a record kind in the streams starting with a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderBinding {
    /// `gateway` or `issuer`.
    pub kind: &'static str,
    /// The start of every stream id it writes.
    pub stream_prefix: String,
}

impl SenderBinding {
    /// The gateways of one Envoy deployment: the filter names each VM's stream
    /// `<audit.service_name>-<start>-<random>`.
    pub fn gateway(service_name: &str) -> SenderBinding {
        SenderBinding {
            kind: "gateway",
            stream_prefix: format!("{service_name}-"),
        }
    }

    /// The issuer, whose processes' streams are `issuer-<random>`.
    pub fn issuer() -> SenderBinding {
        SenderBinding {
            kind: "issuer",
            stream_prefix: "issuer-".to_owned(),
        }
    }

    /// The `jitgate collector serve --sender` value for a credential kept in `file`.
    pub fn flag(&self, file: &Path) -> String {
        format!("{}:{}:{}", self.kind, self.stream_prefix, file.display())
    }
}

/// One sender the collector accepts: what it may write, and its bearer credential.
#[derive(Debug, Clone)]
pub struct CollectorSender {
    /// What it may write.
    pub binding: SenderBinding,
    /// Its credential.
    pub credential: String,
}

impl CollectorSender {
    /// The gateways of one Envoy deployment named `service_name`, with `credential`.
    pub fn gateway(service_name: &str, credential: &str) -> CollectorSender {
        CollectorSender {
            binding: SenderBinding::gateway(service_name),
            credential: credential.to_owned(),
        }
    }

    /// The issuer, with `credential`.
    pub fn issuer(credential: &str) -> CollectorSender {
        CollectorSender {
            binding: SenderBinding::issuer(),
            credential: credential.to_owned(),
        }
    }
}

/// A collector process.
#[derive(Debug)]
pub struct CollectorProcess {
    binary: PathBuf,
    data_dir: PathBuf,
    addr: SocketAddr,
    sender_flags: Vec<String>,
    reviewer: String,
    child: Option<Child>,
}

impl CollectorProcess {
    /// Starts `jitgate collector serve` on `addr` with its data in `data_dir`, accepting
    /// records from `senders` and exports from `reviewer`.
    pub fn start(
        data_dir: &Path,
        addr: SocketAddr,
        senders: &[CollectorSender],
        reviewer: &str,
    ) -> Result<CollectorProcess> {
        let secrets = data_dir.join("sender-secrets");
        std::fs::create_dir_all(&secrets)
            .and_then(|()| {
                std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(Error::io(format!("create {}", secrets.display())))?;
        let mut sender_flags = Vec::new();
        for (i, sender) in senders.iter().enumerate() {
            let file = secrets.join(format!("{i}-{}", sender.binding.kind));
            write_secret(&file, &sender.credential)?;
            sender_flags.push(sender.binding.flag(&file));
        }
        let mut collector = CollectorProcess {
            binary: jitgate_binary()?,
            data_dir: data_dir.to_path_buf(),
            addr,
            sender_flags,
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
            .args(self.sender_flags.iter().flat_map(|flag| ["--sender", flag]))
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

/// Writes `credential` to `path` (replacing it), readable by its owner only.
fn write_secret(path: &Path, credential: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| writeln!(file, "{credential}"))
        .map_err(Error::io(format!("write {}", path.display())))
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
