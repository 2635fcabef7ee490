//! The real jitgate issuer, run in-process on a loopback port for end-to-end tests and local
//! stacks: demo identities, the conformance issuer URL and audience, and the stub feed
//! credential, so a filter configured like the tests' can use it as its `issuer` cluster.

use std::net::SocketAddr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::stub::feed::DEFAULT_FEED_CREDENTIAL;

/// The issuer URL the conformance policy trusts.
pub const ISSUER_URL: &str = "https://issuer.jitgate.test";

/// A running issuer; it serves until [`RunningIssuer::stop`] or until it is dropped.
#[derive(Debug)]
pub struct RunningIssuer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningIssuer {
    /// Starts the issuer with demo identities, data under `data_dir`, on a free port.
    pub fn start(data_dir: &Path) -> Result<RunningIssuer> {
        RunningIssuer::start_with(data_dir, None, |_| {})
    }

    /// Starts the issuer like [`RunningIssuer::start`], on `listen` if given (e.g. the
    /// address of an issuer just stopped, so a running Envoy finds the new one), with
    /// `configure` applied to its configuration (e.g. rate limits off).
    pub fn start_with(
        data_dir: &Path,
        listen: Option<SocketAddr>,
        configure: impl FnOnce(&mut jitgate_issuer::config::ServeConfig) + Send + 'static,
    ) -> Result<RunningIssuer> {
        let data_dir = data_dir.to_path_buf();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("jitgate-issuer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let started = async {
                        let bind = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
                        let listener = tokio::net::TcpListener::bind(bind)
                            .await
                            .map_err(|e| format!("binding {bind}: {e}"))?;
                        let addr = listener.local_addr().map_err(|e| e.to_string())?;
                        let mut config =
                            jitgate_issuer::config::ServeConfig::local_demo(data_dir, addr);
                        config.issuer_url = ISSUER_URL.into();
                        config.data_plane_credential = Some(DEFAULT_FEED_CREDENTIAL.into());
                        configure(&mut config);
                        let state = jitgate_issuer::serve::build_state(&config)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok::<_, String>((listener, addr, state))
                    };
                    match started.await {
                        Ok((listener, addr, state)) => {
                            let _ = ready_tx.send(Ok(addr));
                            // Stopping drops the server: the listener and every connection
                            // close with the runtime, so the port is free again.
                            tokio::select! {
                                _ = jitgate_issuer::serve::serve_on(listener, state, true) => {}
                                _ = stop_rx => {}
                            }
                        }
                        Err(problem) => {
                            let _ = ready_tx.send(Err(problem));
                        }
                    }
                });
            })
            .map_err(Error::io("spawn the issuer thread"))?;
        let addr = ready_rx
            .recv()
            .map_err(|_| Error::IssuerFailed("its thread ended before it listened".into()))?
            .map_err(Error::IssuerFailed)?;
        Ok(RunningIssuer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops serving and waits until the port is closed.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A URL on it.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for RunningIssuer {
    fn drop(&mut self) {
        self.shut_down();
    }
}
