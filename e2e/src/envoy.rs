//! A real Envoy process for tests, `cargo xtask up` and benchmarks: rendered bootstrap, free
//! loopback ports, logs captured to a temp dir, ready only once admin `/ready` says LIVE,
//! killed and reaped on drop.
//!
//! Blocking by design (plain std, no async runtime), so it is safe to drive from sync tests
//! and from inside a tokio runtime alike.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::bootstrap::{Backends, BootstrapTemplate, BootstrapValues, FilterModule};
use crate::error::{Error, Result};
use crate::paths::{envoy_binary, repo_root};
use crate::ports::free_loopback_addr;
use crate::prometheus::{format_labels, PrometheusStats};
use crate::raw_http::{self, RawRequest, RawResponse};
use crate::wait::{wait_for_exit, POLL_INTERVAL};

/// Attempts at starting Envoy when a port picked as free was taken before Envoy bound it.
const START_ATTEMPTS: usize = 3;
/// How long a graceful `/quitquitquit` may take before the process is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than the filter's tick (250 ms at most), when its counts reach Envoy's stats.
const SETTLE_INTERVAL: Duration = Duration::from_millis(400);
/// How long counters may keep moving before [`Envoy::settled_stats`] gives up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How Envoy runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvoyOptions {
    /// Worker threads (`--concurrency`). Two by default, so every test covers per-worker VMs.
    pub concurrency: u32,
    /// `--log-level`.
    pub log_level: String,
    /// `--component-log-level`, e.g. `wasm:debug`.
    pub component_log_level: Option<String>,
    /// How long to wait for admin `/ready` to say LIVE.
    pub ready_timeout: Duration,
    /// Fixed ports instead of free ones picked at start (`cargo xtask up` runs on
    /// well-known ports). Envoy failing to bind them is reported, never retried elsewhere.
    pub fixed_ports: Option<FixedPorts>,
    /// A folder that keeps the rendered config and the logs after Envoy stops, instead of a
    /// temp dir removed on drop.
    pub run_dir: Option<PathBuf>,
}

/// The listener address and admin port of an Envoy started on fixed ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedPorts {
    /// Where the guarded listener binds.
    pub listener: SocketAddr,
    /// The admin port (always on 127.0.0.1).
    pub admin_port: u16,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        Self {
            concurrency: 2,
            log_level: "info".to_owned(),
            component_log_level: None,
            ready_timeout: Duration::from_secs(20),
            fixed_ports: None,
            run_dir: None,
        }
    }
}

/// Everything needed to start an Envoy, except the ports it picks itself.
#[derive(Debug, Clone)]
pub struct EnvoySpec {
    /// The bootstrap template.
    pub template: BootstrapTemplate,
    /// Where its clusters point.
    pub backends: Backends,
    /// The Wasm module and its configuration.
    pub filter: FilterModule,
    /// Process options.
    pub options: EnvoyOptions,
}

impl EnvoySpec {
    /// The jitgate bootstrap with default options.
    pub fn jitgate(backends: Backends, filter: FilterModule) -> Self {
        Self {
            template: BootstrapTemplate::jitgate(),
            backends,
            filter,
            options: EnvoyOptions::default(),
        }
    }
}

/// A running, ready Envoy. Killed and reaped on drop; if the thread is panicking (a failed
/// test), the tail of its log is printed first.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    values: BootstrapValues,
    dir: RunDir,
}

/// Where the config and logs live: a temp dir removed on drop, or a folder that stays.
#[derive(Debug)]
enum RunDir {
    Temporary(TempDir),
    Kept(PathBuf),
}

impl RunDir {
    fn create(kept: Option<&Path>) -> Result<RunDir> {
        match kept {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(Error::io("create Envoy's run dir"))?;
                Ok(RunDir::Kept(path.to_path_buf()))
            }
            None => tempfile::Builder::new()
                .prefix("jitgate-envoy-")
                .tempdir()
                .map(RunDir::Temporary)
                .map_err(Error::io("create Envoy's temp dir")),
        }
    }

    fn path(&self) -> &Path {
        match self {
            RunDir::Temporary(dir) => dir.path(),
            RunDir::Kept(path) => path,
        }
    }
}

impl Envoy {
    /// Renders the bootstrap on fresh loopback ports, starts Envoy and waits until it is LIVE.
    ///
    /// Fails with [`Error::EnvoyExited`] (carrying Envoy's log) if Envoy refuses the config —
    /// including a plugin configuration the filter rejects in `on_configure` — and with
    /// [`Error::EnvoyNotReady`] if it is not LIVE within `ready_timeout`.
    pub fn start(spec: &EnvoySpec) -> Result<Envoy> {
        let binary = envoy_binary()?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&binary, spec) {
                Err(Error::EnvoyExited { log, .. })
                    if attempt < START_ATTEMPTS
                        && spec.options.fixed_ports.is_none()
                        && log.contains("Address already in use") =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn start_once(binary: &Path, spec: &EnvoySpec) -> Result<Envoy> {
        let (listener, admin_port) = match spec.options.fixed_ports {
            Some(ports) => (ports.listener, ports.admin_port),
            None => (free_loopback_addr()?, free_loopback_addr()?.port()),
        };
        let values = BootstrapValues {
            admin_port,
            listener,
            backends: spec.backends,
            filter: spec.filter.clone(),
        };
        let yaml = spec.template.render(&values)?;
        let dir = RunDir::create(spec.options.run_dir.as_deref())?;
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, yaml).map_err(Error::io("write Envoy's config"))?;
        let stderr =
            File::create(dir.path().join("envoy.log")).map_err(Error::io("create envoy.log"))?;
        let stdout =
            File::create(dir.path().join("access.log")).map_err(Error::io("create access.log"))?;

        let options = &spec.options;
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", &options.concurrency.to_string()])
            // No hot restart: no shared memory to clash over or leak between parallel tests.
            // The unique base id still keeps instances apart should it ever be turned on.
            .arg("--disable-hot-restart")
            .args(["--base-id", &unique_base_id().to_string()])
            .args(["--log-level", &options.log_level])
            // Access logs go through Envoy's file flusher (default every 10 s): flush quickly
            // so tests can read them.
            .args(["--file-flush-interval-msec", "100"])
            .args(["--drain-strategy", "immediate", "--drain-time-s", "1"]);
        if let Some(levels) = &options.component_log_level {
            command.args(["--component-log-level", levels]);
        }
        let child = command
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(Error::io(format!("start {}", binary.display())))?;

        let mut envoy = Envoy { child, values, dir };
        envoy.wait_ready(options.ready_timeout)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_exit_status()? {
                return Err(Error::EnvoyExited {
                    status,
                    log: self.full_log(),
                });
            }
            if let Ok(response) = self.admin(RawRequest::get("/ready")) {
                if response.status == 200 && response.text().trim() == "LIVE" {
                    return Ok(());
                }
            }
            if start.elapsed() >= timeout {
                return Err(Error::EnvoyNotReady {
                    waited: timeout,
                    log: self.full_log(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn try_exit_status(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(Error::io("poll the Envoy process"))
    }

    /// How Envoy exited, if it has (`None` while it runs).
    pub fn try_exit(&mut self) -> Result<Option<ExitStatus>> {
        self.try_exit_status()
    }

    /// The guarded listener's address.
    pub fn listener(&self) -> SocketAddr {
        self.values.listener
    }

    /// `http://<listener><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.values.listener)
    }

    /// The admin address (loopback).
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.values.admin_port))
    }

    /// The values the running bootstrap was rendered with.
    pub fn values(&self) -> &BootstrapValues {
        &self.values
    }

    /// The rendered bootstrap file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("envoy.yaml")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request to the admin API.
    pub fn admin(&self, request: RawRequest<'_>) -> Result<RawResponse> {
        raw_http::send(self.admin_addr(), request)
    }

    /// Sends a request to the guarded listener exactly as given (no path normalisation).
    pub fn raw(&self, request: RawRequest<'_>) -> Result<RawResponse> {
        raw_http::send(self.listener(), request)
    }

    /// Scrapes admin `/stats/prometheus`.
    pub fn stats(&self) -> Result<PrometheusStats> {
        let target = "/stats/prometheus";
        let response = self.admin(RawRequest::get(target))?;
        if response.status != 200 {
            return Err(Error::Http {
                method: "GET".to_owned(),
                target: target.to_owned(),
                addr: self.admin_addr(),
                reason: format!("status {}", response.status),
            });
        }
        Ok(PrometheusStats::parse(&response.text()))
    }

    /// A counter (or gauge), by Prometheus name and exact label set, e.g.
    /// `counter("envoy_cluster_upstream_rq_total", &[("envoy_cluster_name", "upstream")])`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<u64> {
        self.stats()?
            .counter(name, labels)
            .ok_or_else(|| Error::StatNotFound {
                name: name.to_owned(),
                labels: format_labels(labels),
            })
    }

    /// Scrapes once the filter's counters have settled: requests count in the Wasm VM and
    /// reach Envoy's stats on the VM's next tick (at most 250 ms later), so a scrape right
    /// after a response may miss them. Settled means two scrapes a tick and more apart agree
    /// on every counter requests move (`jitgate_allowed`, `jitgate_denied_*`,
    /// `jitgate_cache_*`, `jitgate_audit_dropped`; the fetch and poll counters move on their
    /// own schedule).
    pub fn settled_stats(&self) -> Result<PrometheusStats> {
        let start = Instant::now();
        let jitgate = |stats: &PrometheusStats| -> Vec<crate::prometheus::Sample> {
            stats
                .samples()
                .iter()
                .filter(|sample| {
                    let name = sample.name.as_str();
                    name == "jitgate_allowed"
                        || name == "jitgate_audit_dropped"
                        || name.starts_with("jitgate_denied_")
                        || name.starts_with("jitgate_cache_")
                })
                .cloned()
                .collect()
        };
        let mut last = self.stats()?;
        loop {
            std::thread::sleep(SETTLE_INTERVAL);
            let now = self.stats()?;
            if jitgate(&now) == jitgate(&last) {
                return Ok(now);
            }
            if start.elapsed() >= SETTLE_TIMEOUT {
                return Err(Error::Timeout {
                    what: "the filter's counters to settle".to_owned(),
                    waited: SETTLE_TIMEOUT,
                });
            }
            last = now;
        }
    }

    /// [`Self::counter`] read from [`Self::settled_stats`].
    pub fn settled_counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<u64> {
        self.settled_stats()?
            .counter(name, labels)
            .ok_or_else(|| Error::StatNotFound {
                name: name.to_owned(),
                labels: format_labels(labels),
            })
    }

    /// Waits until a counter equals `expected` (a filter counts in `on_log`, after the client
    /// already has its response, so reading right away may be early).
    pub fn wait_for_counter(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        expected: u64,
        timeout: Duration,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            let seen = self.stats()?.counter(name, labels);
            if seen == Some(expected) {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!(
                        "counter {name}{} to reach {expected} (last seen: {seen:?})",
                        format_labels(labels)
                    ),
                    waited: timeout,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until counter `name` with `labels` is at least `minimum`.
    pub fn wait_for_counter_at_least(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        minimum: u64,
        timeout: Duration,
    ) -> Result<u64> {
        let start = Instant::now();
        loop {
            let seen = self.stats()?.counter(name, labels);
            if let Some(value) = seen.filter(|value| *value >= minimum) {
                return Ok(value);
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!(
                        "counter {name}{} to reach at least {minimum} (last seen: {seen:?})",
                        format_labels(labels)
                    ),
                    waited: timeout,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Envoy's own log (stderr) so far.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("envoy.log"))
    }

    /// The listener's access log (stdout) so far, flushed every 100 ms.
    pub fn access_log(&self) -> String {
        read_lossy(&self.dir.path().join("access.log"))
    }

    fn full_log(&self) -> String {
        format!("{}{}", self.log(), self.access_log())
    }

    /// Asks Envoy to exit via admin `/quitquitquit` (letting the filter flush what it must),
    /// kills it if it has not exited within 10 s, and returns how it exited.
    pub fn shutdown(mut self) -> Result<ExitStatus> {
        // The connection may close before the reply: the exit below is what matters.
        let _ = self.admin(RawRequest::new("POST", "/quitquitquit"));
        if let Some(status) = wait_for_exit(&mut self.child, SHUTDOWN_TIMEOUT)? {
            return Ok(status);
        }
        self.child.kill().map_err(Error::io("kill Envoy"))?;
        self.child.wait().map_err(Error::io("reap Envoy"))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.full_log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!(
                "--- Envoy log tail ({}) ---\n{tail}\n---",
                self.dir.path().display()
            );
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A base id no other Envoy started by this or another test process is using.
fn unique_base_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let instance = NEXT.fetch_add(1, Ordering::Relaxed) % 1000;
    (std::process::id() % 1_000_000) * 1000 + instance
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
