//! One `jitgate … serve` child process of the local stack: its log in the data folder, ready
//! once its health URL answers 200, stopped gracefully (SIGTERM, like Ctrl-C) and killed only
//! if it does not exit in time.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::raw_http::{self, RawRequest};
use crate::wait::{wait_for_exit, wait_until};

/// How long a service may take to answer its health URL after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a service may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running service. Killed and reaped on drop if it was not stopped.
#[derive(Debug)]
pub struct ServiceProcess {
    name: &'static str,
    child: Child,
    log_path: PathBuf,
}

impl ServiceProcess {
    /// Starts `command` with its output appended to `log_path`, then waits until
    /// `GET health_path` on `addr` answers 200. If it exits first, the error carries its log.
    pub fn start(
        name: &'static str,
        mut command: Command,
        log_path: &Path,
        addr: SocketAddr,
        health_path: &str,
    ) -> Result<ServiceProcess> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(Error::io(format!("open {}", log_path.display())))?;
        let log_copy = log
            .try_clone()
            .map_err(Error::io("duplicate a log handle"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_copy)
            .spawn()
            .map_err(Error::io(format!("start the {name}")))?;
        let mut service = ServiceProcess {
            name,
            child,
            log_path: log_path.to_path_buf(),
        };
        wait_until(
            &format!("the {name} to answer on {addr}"),
            READY_TIMEOUT,
            || {
                service.check_running()?;
                Ok(raw_http::send(addr, RawRequest::get(health_path))
                    .ok()
                    .filter(|response| response.status == 200)
                    .map(drop))
            },
        )?;
        Ok(service)
    }

    /// `Ok` while the process runs; [`Error::ServiceExited`] with its log once it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self
            .child
            .try_wait()
            .map_err(Error::io(format!("poll the {}", self.name)))?
        {
            None => Ok(()),
            Some(status) => Err(self.exited(status)),
        }
    }

    fn exited(&self, status: ExitStatus) -> Error {
        Error::ServiceExited {
            what: self.name.to_owned(),
            status,
            log_path: self.log_path.clone(),
            log: std::fs::read(&self.log_path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default(),
        }
    }

    /// Asks the process to stop (SIGTERM; it shuts down as on Ctrl-C) and waits; kills it if
    /// it is still running after 10 s.
    pub fn stop(mut self) -> Result<ExitStatus> {
        if self.child.try_wait().ok().flatten().is_none() {
            let pid = rustix::process::Pid::from_child(&self.child);
            // Already gone is fine: the wait below reaps it either way.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if let Some(status) = wait_for_exit(&mut self.child, STOP_TIMEOUT)? {
            return Ok(status);
        }
        self.child
            .kill()
            .map_err(Error::io(format!("kill the {}", self.name)))?;
        self.child
            .wait()
            .map_err(Error::io(format!("reap the {}", self.name)))
    }
}

impl ServiceProcess {
    /// Kills the process at once (SIGKILL: no shutdown, as in a crash or an OOM kill) and
    /// reaps it.
    pub fn kill(mut self) -> Result<()> {
        // Already exited is fine: the wait below reaps it either way.
        let _ = self.child.kill();
        self.child
            .wait()
            .map(drop)
            .map_err(Error::io(format!("reap the {}", self.name)))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
