//! The real jitgate issuer, run in-process on a loopback port for end-to-end tests and local
//! stacks: demo identities, the conformance issuer URL and audience, and the stub feed
//! credential, so a filter configured like the tests' can use it as its `issuer` cluster.

use std::net::SocketAddr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::stub::feed::DEFAULT_FEED_CREDENTIAL;

/// The issuer URL the conformance policy trusts.
pub const ISSUER_URL: &str = "https://issuer.jitgate.test";

/// A running issuer; it serves until the process ends (its thread is detached).
#[derive(Debug)]
pub struct RunningIssuer {
    addr: SocketAddr,
}

impl RunningIssuer {
    /// Starts the issuer with demo identities, data under `data_dir`, on a free port.
    pub fn start(data_dir: &Path) -> Result<RunningIssuer> {
        let data_dir = data_dir.to_path_buf();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
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
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .map_err(|e| e.to_string())?;
                        let addr = listener.local_addr().map_err(|e| e.to_string())?;
                        let mut config =
                            jitgate_issuer::config::ServeConfig::local_demo(data_dir, addr);
                        config.issuer_url = ISSUER_URL.into();
                        config.data_plane_credential = Some(DEFAULT_FEED_CREDENTIAL.into());
                        let state = jitgate_issuer::serve::build_state(&config)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok::<_, String>((listener, addr, state))
                    };
                    match started.await {
                        Ok((listener, addr, state)) => {
                            let _ = ready_tx.send(Ok(addr));
                            let _ = jitgate_issuer::serve::serve_on(listener, state, true).await;
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
        Ok(RunningIssuer { addr })
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
