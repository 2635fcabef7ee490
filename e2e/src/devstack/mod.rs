//! The whole local stack that `cargo xtask up` runs, and that the README walkthrough test
//! starts through the same code: the real issuer (`jitgate issuer serve --demo`) and the real
//! collector (`jitgate collector serve`), each on SQLite under one data folder, the stub
//! OpenAI-compatible model server, and Envoy running the built filter, all on loopback.
//!
//! Layout of the data folder (reused by the next run, so grants, keys and the audit log
//! survive a restart):
//!
//! ```text
//! <data>/env              source it in another terminal (0600)
//! <data>/bin/jitgate      link to the binary the stack runs
//! <data>/issuer/          issuer database and signing keys (0700)
//! <data>/collector/       audit log database and checkpoint key (0700)
//! <data>/secrets/         the collector's credentials (0700): one per sender (gateway,
//!                         issuer), each bound to its own streams, and the reviewer's
//! <data>/envoy/           rendered Envoy config, the filter's plugin-config.json (0600:
//!                         it holds the feed and collector credentials), envoy.log, access.log
//! <data>/logs/            issuer.log, collector.log
//! <data>/guard-rules.toml the guard's rules (written once from the example; edit it and
//!                         `kill -HUP` the collector to reload)
//! <data>/notifications.toml, notifications.log  the issuer's notifications, all sent to a
//!                         local inbox that logs one line per message (see `inbox`)
//! ```

mod banner;
mod env_file;
mod gate_config;
mod inbox;
mod options;
mod secrets;
mod service;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use self::env_file::EnvFile;
use self::options::loopback;
pub use self::options::{parse_args, DevStackOptions, GateTiming, Invocation, StackPorts, USAGE};
use self::secrets::LocalCredentials;
use self::service::ServiceProcess;
use crate::bootstrap::{Backends, FilterModule};
use crate::collector::SenderBinding;
use crate::envoy::{Envoy, EnvoyOptions, EnvoySpec, FixedPorts};
use crate::error::{Error, Result};
use crate::raw_http::RawRequest;
use crate::stub::StubServer;

/// Environment variable naming a folder that holds the `openai` Python package (set by
/// `cargo xtask up` and the test step); written into `<data>/env` as `PYTHONPATH`.
pub const OPENAI_PYTHONPATH_ENV: &str = "JITGATE_OPENAI_PYTHONPATH";

/// Envoy workers in the local stack: two, so every request path crosses per-worker VMs as
/// it does in production.
const ENVOY_WORKERS: u32 = 2;

/// Where the binaries the stack runs are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The `jitgate` CLI (issuer, collector).
    pub jitgate: PathBuf,
    /// The filter `.wasm` Envoy loads.
    pub filter_wasm: PathBuf,
    /// A folder with the `openai` Python package, for `<data>/env`.
    pub openai_python_path: Option<PathBuf>,
}

impl Binaries {
    /// From the same environment variables the e2e harness reads (`JITGATE_BIN`,
    /// `JITGATE_FILTER_WASM`, `JITGATE_OPENAI_PYTHONPATH`), with the same defaults.
    pub fn from_env() -> Result<Binaries> {
        Ok(Binaries {
            jitgate: crate::paths::jitgate_binary()?,
            filter_wasm: crate::paths::filter_wasm()?,
            openai_python_path: std::env::var_os(OPENAI_PYTHONPATH_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
        })
    }
}

/// A running local stack. Dropping it kills what is still running; [`DevStack::stop`] stops
/// it in order (Envoy first, so the filter's last audit batch reaches the collector).
#[derive(Debug)]
pub struct DevStack {
    envoy: Option<Envoy>,
    /// Further gateways of a fleet ([`DevStackOptions::extra_gateways`]).
    extra_envoys: Vec<Envoy>,
    model: Option<StubServer>,
    issuer: Option<ServiceProcess>,
    collector: Option<ServiceProcess>,
    data_dir: PathBuf,
    env_file: PathBuf,
    ports: StackPorts,
    /// The `jitgate` binary the services run, to start one again.
    jitgate: PathBuf,
}

impl DevStack {
    /// Starts everything and returns once the gate can decide (keys loaded and revocation
    /// feed read on every Envoy worker). Refuses to start, naming the port, if any port is
    /// taken.
    pub fn start(options: &DevStackOptions, binaries: &Binaries) -> Result<DevStack> {
        let ports = options.ports;
        ports.check_free()?;
        let data_dir = absolute(&options.data_dir)?;
        for dir in ["logs", "envoy"] {
            let path = data_dir.join(dir);
            std::fs::create_dir_all(&path)
                .map_err(Error::io(format!("create {}", path.display())))?;
        }
        let credentials = LocalCredentials::load_or_create(&data_dir.join("secrets"))?;
        let guard_rules = write_guard_rules(&data_dir)?;

        let collector = start_collector(
            &binaries.jitgate,
            &data_dir,
            ports,
            &credentials,
            &guard_rules,
        )?;
        let issuer_url = format!("http://127.0.0.1:{}", ports.issuer);
        let notifications = start_inbox(&data_dir)?;
        let issuer = ServiceProcess::start(
            "issuer",
            issuer_command(
                &binaries.jitgate,
                &data_dir,
                ports,
                &credentials,
                &notifications,
            ),
            &data_dir.join("logs/issuer.log"),
            loopback(ports.issuer),
            "/healthz",
        )?;
        let model = StubServer::start_on(loopback(ports.model))?;

        let configuration = gate_config::plugin_configuration(
            &issuer_url,
            jitgate_issuer::demo::DEMO_DATA_PLANE_CREDENTIAL,
            &credentials.gateway_sender,
            options.gate_timing,
        )?;
        write_private(
            &data_dir.join("envoy/plugin-config.json"),
            &serde_json::to_string_pretty(&configuration).unwrap_or_default(),
        )?;
        let mut spec = EnvoySpec::jitgate(
            Backends {
                upstream: model.addr(),
                issuer: loopback(ports.issuer),
                collector: loopback(ports.collector),
            },
            FilterModule {
                wasm_path: binaries.filter_wasm.clone(),
                plugin_configuration: configuration.to_string(),
            },
        );
        spec.options = EnvoyOptions {
            concurrency: ENVOY_WORKERS,
            fixed_ports: Some(FixedPorts {
                listener: loopback(ports.gateway),
                admin_port: ports.admin,
            }),
            run_dir: Some(data_dir.join("envoy")),
            ..EnvoyOptions::default()
        };
        let envoy = Envoy::start(&spec)?;
        wait_for_gate(&envoy)?;
        let mut extra_envoys = Vec::with_capacity(options.extra_gateways);
        for index in 0..options.extra_gateways {
            let mut extra = spec.clone();
            let run_dir = data_dir.join(format!("envoy-{}", index + 2));
            std::fs::create_dir_all(&run_dir)
                .map_err(Error::io(format!("create {}", run_dir.display())))?;
            extra.options = EnvoyOptions {
                concurrency: ENVOY_WORKERS,
                run_dir: Some(run_dir),
                ..EnvoyOptions::default()
            };
            let gateway = Envoy::start(&extra)?;
            wait_for_gate(&gateway)?;
            extra_envoys.push(gateway);
        }

        let env_file = EnvFile {
            data_dir: &data_dir,
            jitgate: &binaries.jitgate,
            ports,
            reviewer_credential: &credentials.reviewer,
            openai_python_path: binaries.openai_python_path.as_deref(),
        }
        .write()?;
        Ok(DevStack {
            envoy: Some(envoy),
            extra_envoys,
            model: Some(model),
            issuer: Some(issuer),
            collector: Some(collector),
            data_dir,
            env_file,
            ports,
            jitgate: binaries.jitgate.clone(),
        })
    }

    /// Kills the collector (SIGKILL, as in a crash) and starts it again on the same data:
    /// what it had acknowledged must all be there, and the guard must go on from its totals.
    /// Returns once the new collector answers.
    pub fn crash_and_restart_collector(&mut self) -> Result<()> {
        if let Some(collector) = self.collector.take() {
            collector.kill()?;
        }
        let credentials = LocalCredentials::load_or_create(&self.data_dir.join("secrets"))?;
        let guard_rules = write_guard_rules(&self.data_dir)?;
        self.collector = Some(start_collector(
            &self.jitgate,
            &self.data_dir,
            self.ports,
            &credentials,
            &guard_rules,
        )?);
        Ok(())
    }

    /// The data folder (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Every gateway of the stack: the first (on the gateway port), then the extra ones.
    pub fn gateways(&self) -> Vec<&Envoy> {
        self.envoy.iter().chain(&self.extra_envoys).collect()
    }

    /// The file a second terminal sources.
    pub fn env_file(&self) -> &Path {
        &self.env_file
    }

    /// Where everything listens.
    pub fn ports(&self) -> StackPorts {
        self.ports
    }

    /// What `cargo xtask up` prints once the stack is ready.
    pub fn banner(&self) -> String {
        banner::banner(self)
    }

    /// `Ok` while every process runs; the first one found exited, with its log, otherwise.
    pub fn check_running(&mut self) -> Result<()> {
        for service in [&mut self.collector, &mut self.issuer]
            .into_iter()
            .flatten()
        {
            service.check_running()?;
        }
        for envoy in self.envoy.iter_mut().chain(&mut self.extra_envoys) {
            if let Some(status) = envoy.try_exit()? {
                return Err(Error::ServiceExited {
                    what: "Envoy".to_owned(),
                    status,
                    log_path: envoy.config_path().with_file_name("envoy.log"),
                    log: envoy.log(),
                });
            }
        }
        Ok(())
    }

    /// Waits until the gate has shipped an audit record for every request Envoy completed,
    /// and the collector's guard has caught up with them — totals applied, firings delivered
    /// to the log and the issuer, usage snapshots taken (within `timeout`) — so an export or
    /// a `jitgate status` taken now shows every call made so far.
    pub fn wait_until_audited(&self, timeout: Duration) -> Result<()> {
        self.wait_until_shipped(timeout)?;
        let collector = loopback(self.ports.collector);
        crate::wait::wait_until("the collector's guard to catch up", timeout, || {
            let response = crate::raw_http::send(collector, RawRequest::get("/metrics"))?;
            let stats = crate::prometheus::PrometheusStats::parse(&response.text());
            let settled = [
                "jitgate_guard_lag_records",
                "jitgate_guard_steps_open",
                "jitgate_guard_usage_pending",
            ]
            .iter()
            .all(|gauge| stats.counter(gauge, &[]) == Some(0));
            Ok(settled.then_some(()))
        })
    }

    /// Waits until every gateway has shipped an audit record for every request it completed.
    fn wait_until_shipped(&self, timeout: Duration) -> Result<()> {
        crate::wait::wait_until(
            "the gate's audit records to reach the collector",
            timeout,
            || {
                for envoy in self.gateways() {
                    let stats = envoy.stats()?;
                    let completed = stats
                        .counter(
                            "envoy_http_downstream_rq_completed",
                            &[("envoy_http_conn_manager_prefix", "ingress_http")],
                        )
                        .unwrap_or(0);
                    let shipped = stats.counter("jitgate_audit_sent", &[]).unwrap_or(0);
                    if shipped < completed {
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            },
        )
    }

    /// Stops everything, in order: Envoy (its filter flushes audit records), the model
    /// server, the issuer (its last events go to the collector), the collector.
    pub fn stop(mut self) -> Result<()> {
        let mut first_error = None;
        let extra = std::mem::take(&mut self.extra_envoys);
        for envoy in self.envoy.take().into_iter().chain(extra) {
            if let Err(error) = envoy.shutdown() {
                first_error.get_or_insert(error);
            }
        }
        drop(self.model.take());
        for service in [self.issuer.take(), self.collector.take()]
            .into_iter()
            .flatten()
        {
            if let Err(error) = service.stop() {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The local stack's guard rules, at `<data>/guard-rules.toml`: written from the example the
/// first time, then left as the operator edited it.
const EXAMPLE_GUARD_RULES: &str = include_str!("guard-rules.toml");

fn write_guard_rules(data_dir: &Path) -> Result<PathBuf> {
    let path = data_dir.join("guard-rules.toml");
    if !path.exists() {
        std::fs::write(&path, EXAMPLE_GUARD_RULES)
            .map_err(Error::io(format!("write {}", path.display())))?;
    }
    Ok(path)
}

fn start_collector(
    jitgate: &Path,
    data_dir: &Path,
    ports: StackPorts,
    credentials: &LocalCredentials,
    guard_rules: &Path,
) -> Result<ServiceProcess> {
    ServiceProcess::start(
        "collector",
        collector_command(jitgate, data_dir, ports, credentials, guard_rules),
        &data_dir.join("logs/collector.log"),
        loopback(ports.collector),
        "/v1/checkpoint/key",
    )
}

fn collector_command(
    jitgate: &Path,
    data_dir: &Path,
    ports: StackPorts,
    credentials: &LocalCredentials,
    guard_rules: &Path,
) -> Command {
    let mut command = Command::new(jitgate);
    command
        .args(["collector", "serve"])
        .args(["--listen", &loopback(ports.collector).to_string()])
        .arg("--data-dir")
        .arg(data_dir.join("collector"))
        // Each sender writes only its own kind of record in its own streams.
        .arg("--sender")
        .arg(
            SenderBinding::gateway(gate_config::SERVICE_NAME)
                .flag(&credentials.gateway_sender_file),
        )
        .arg("--sender")
        .arg(SenderBinding::issuer().flag(&credentials.issuer_sender_file))
        .arg("--reviewer-credentials-file")
        .arg(&credentials.reviewer_file)
        // A checkpoint soon after records arrive, so an export right after a call verifies.
        .args(["--checkpoint-interval", "1s"])
        // The guard watches every grant's use across the fleet and acts through the issuer
        // as the demo guard identity.
        .arg("--guard-rules")
        .arg(guard_rules)
        .args([
            "--guard-issuer-url",
            &format!("http://127.0.0.1:{}", ports.issuer),
        ])
        .arg("--guard-token-file")
        .arg(&credentials.guard_token_file);
    command
}

/// Starts the notification inbox and writes the issuer's notifications file for it; the
/// file's path. The signing secret is made once and kept in `<data>/secrets/`.
fn start_inbox(data_dir: &Path) -> Result<PathBuf> {
    let secret_file = data_dir.join("secrets/notifications.whsec");
    if !secret_file.exists() {
        let secret = jitgate_issuer::notify::webhook::WebhookSecret::generate()
            .map_err(|error| Error::Usage(format!("a webhook secret: {error}")))?;
        write_private(&secret_file, &format!("{secret}\n"))?;
    }
    let inbox = inbox::Inbox::start(&secret_file, data_dir.join("notifications.log"))?;
    let path = data_dir.join("notifications.toml");
    std::fs::write(&path, inbox::notifications_file(&inbox, &secret_file))
        .map_err(Error::io(format!("write {}", path.display())))?;
    Ok(path)
}

fn issuer_command(
    jitgate: &Path,
    data_dir: &Path,
    ports: StackPorts,
    credentials: &LocalCredentials,
    notifications: &Path,
) -> Command {
    let mut command = Command::new(jitgate);
    command
        .args(["issuer", "serve", "--demo"])
        .args(["--listen", &loopback(ports.issuer).to_string()])
        .args([
            "--issuer-url",
            &format!("http://127.0.0.1:{}", ports.issuer),
        ])
        .arg("--data-dir")
        .arg(data_dir.join("issuer"))
        .args([
            "--audit-endpoint",
            &format!("http://127.0.0.1:{}", ports.collector),
        ])
        .arg("--audit-credential-file")
        .arg(&credentials.issuer_sender_file)
        .arg("--notifications")
        .arg(notifications)
        .args([
            "--gateway-url",
            &format!("http://127.0.0.1:{}/v1", ports.gateway),
        ]);
    command
}

/// Every Wasm VM (one per worker plus the main thread's) has fetched the keys and read the
/// revocation feed: until then token-bearing requests would get a (correct) 503.
fn wait_for_gate(envoy: &Envoy) -> Result<()> {
    let vms = u64::from(ENVOY_WORKERS) + 1;
    let timeout = Duration::from_secs(20);
    envoy.wait_for_counter_at_least("jitgate_keys_fetch_ok", &[], vms, timeout)?;
    envoy.wait_for_counter_at_least("jitgate_revocation_poll_ok", &[], vms, timeout)?;
    Ok(())
}

/// Writes `text` to `path`, readable by the owner only (replacing an older file).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(Error::io(format!("write {}", path.display())))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(path).map_err(Error::io(format!("create {}", path.display())))?;
    std::fs::canonicalize(path).map_err(Error::io(format!("resolve {}", path.display())))
}
