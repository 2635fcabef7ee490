//! What `cargo xtask up` can be told: where the data lives and which loopback ports each part
//! of the stack listens on. Defaults are the ports the `jitgate` CLI already assumes
//! (issuer 8380, collector 4318), so the walkthrough needs no `--server` flags.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// The command-line help of `cargo xtask up` (flags after `up` are parsed here).
pub const USAGE: &str = "\
usage: cargo xtask up [options]

Starts the local stack on loopback: the jitgate issuer (demo identities, example Cedar
policy) and collector, both on SQLite under the data folder, a stub OpenAI-compatible model
server, and Envoy running the jitgate filter. Ctrl-C stops everything.

options:
  --data DIR              data folder (default .jitgate, reused between runs)
  --gateway-port PORT     Envoy's guarded listener (default 10000)
  --admin-port PORT       Envoy's admin interface (default 9901)
  --issuer-port PORT      the issuer (default 8380)
  --collector-port PORT   the collector (default 4318)
  --model-port PORT       the stub model server (default 8000)
  -h, --help              show this text";

/// The loopback ports of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackPorts {
    /// Envoy's guarded listener, where clients send inference calls.
    pub gateway: u16,
    /// Envoy's admin interface (stats, readiness).
    pub admin: u16,
    /// The issuer's API and reviewer page.
    pub issuer: u16,
    /// The collector's OTLP/HTTP receiver and export API.
    pub collector: u16,
    /// The stub model server behind Envoy.
    pub model: u16,
}

impl Default for StackPorts {
    fn default() -> Self {
        Self {
            gateway: 10000,
            admin: 9901,
            issuer: 8380,
            collector: 4318,
            model: 8000,
        }
    }
}

impl StackPorts {
    /// Ports the OS reports free right now (for tests, which must not need the defaults).
    pub fn free() -> Result<Self> {
        let port = || crate::ports::free_loopback_addr().map(|addr| addr.port());
        Ok(Self {
            gateway: port()?,
            admin: port()?,
            issuer: port()?,
            collector: port()?,
            model: port()?,
        })
    }

    /// Each port with the role it plays, in start order.
    pub fn roles(&self) -> [(&'static str, &'static str, u16); 5] {
        [
            ("collector", "--collector-port", self.collector),
            ("issuer", "--issuer-port", self.issuer),
            ("model server", "--model-port", self.model),
            ("gateway", "--gateway-port", self.gateway),
            ("Envoy admin", "--admin-port", self.admin),
        ]
    }

    /// Fails with [`Error::PortInUse`] naming the first port that is taken (or given twice),
    /// before anything starts — a half-started stack would be harder to explain.
    pub fn check_free(&self) -> Result<()> {
        let roles = self.roles();
        for (index, (role, flag, port)) in roles.iter().enumerate() {
            if let Some((other, _, _)) = roles[..index].iter().find(|(_, _, seen)| seen == port) {
                return Err(Error::Usage(format!(
                    "port {port} is given to both the {other} and the {role}; pick another with {flag}"
                )));
            }
            if TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_err() {
                return Err(Error::PortInUse {
                    role,
                    addr: loopback(*port),
                    flag,
                });
            }
        }
        Ok(())
    }
}

/// `127.0.0.1:<port>`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Everything `cargo xtask up` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevStackOptions {
    /// The data folder: issuer and collector databases, keys, credentials, Envoy's logs.
    pub data_dir: PathBuf,
    /// Where each part listens.
    pub ports: StackPorts,
    /// More gateways beside the first: separate Envoy processes (each with its own workers,
    /// so its own per-Envoy budget counts) on free loopback ports, sharing the issuer, the
    /// collector and the model server — a fleet, for the tests of fleet-wide limits.
    pub extra_gateways: usize,
    /// How often the gateways ship audit records and poll the revocation feed.
    pub gate_timing: GateTiming,
}

impl Default for DevStackOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".jitgate"),
            ports: StackPorts::default(),
            extra_gateways: 0,
            gate_timing: GateTiming::Local,
        }
    }
}

/// The filter's audit flush and revocation poll intervals in the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateTiming {
    /// A quarter of a second each, so the walkthrough's `sleep 1` always suffices.
    Local,
    /// The filter's defaults (one second each), as a deployment that sets neither runs: what
    /// the benchmarks measure.
    FilterDefaults,
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Start the stack.
    Up(DevStackOptions),
    /// Print [`USAGE`].
    Help,
}

/// Parses the flags after `cargo xtask up`; errors name the flag and what was wrong.
pub fn parse_args(args: &[String]) -> Result<Invocation> {
    let mut options = DevStackOptions::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Invocation::Help);
        }
        let value = rest
            .next()
            .ok_or_else(|| Error::Usage(format!("{flag} needs a value")))?;
        let ports = &mut options.ports;
        let port_slot = match flag.as_str() {
            "--data" => {
                options.data_dir = PathBuf::from(value);
                continue;
            }
            "--gateway-port" => &mut ports.gateway,
            "--admin-port" => &mut ports.admin,
            "--issuer-port" => &mut ports.issuer,
            "--collector-port" => &mut ports.collector,
            "--model-port" => &mut ports.model,
            _ => return Err(Error::Usage(format!("unknown option {flag}"))),
        };
        *port_slot = match value.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(Error::Usage(format!(
                    "{flag}: `{value}` is not a port number (1-65535)"
                )))
            }
        };
    }
    Ok(Invocation::Up(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Invocation> {
        parse_args(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn no_flags_means_the_defaults() {
        assert_eq!(
            parsed(&[]).ok(),
            Some(Invocation::Up(DevStackOptions::default()))
        );
    }

    #[test]
    fn every_port_and_the_data_folder_can_be_set() {
        let Ok(Invocation::Up(options)) = parsed(&[
            "--data",
            "/tmp/x",
            "--gateway-port",
            "1",
            "--admin-port",
            "2",
            "--issuer-port",
            "3",
            "--collector-port",
            "4",
            "--model-port",
            "5",
        ]) else {
            panic!("parses");
        };
        assert_eq!(options.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            options.ports,
            StackPorts {
                gateway: 1,
                admin: 2,
                issuer: 3,
                collector: 4,
                model: 5
            }
        );
    }

    #[test]
    fn bad_flags_are_usage_errors_that_name_the_flag() {
        for (args, expected) in [
            (&["--gateway-port", "http"][..], "--gateway-port: `http`"),
            (&["--gateway-port", "0"], "--gateway-port: `0`"),
            (&["--issuer-port"], "--issuer-port needs a value"),
            (&["--port", "1"], "unknown option --port"),
        ] {
            let message = parsed(args).err().map(|error| error.to_string());
            assert!(
                message.as_deref().is_some_and(|m| m.contains(expected)),
                "{args:?}: {message:?}"
            );
        }
    }

    #[test]
    fn a_taken_port_is_named_with_its_role_and_flag() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let mut ports = StackPorts::free().unwrap();
        ports.issuer = taken.local_addr().unwrap().port();
        let message = ports.check_free().err().map(|error| error.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("issuer") && m.contains("--issuer-port")),
            "{message:?}"
        );
    }

    #[test]
    fn one_port_for_two_roles_is_refused() {
        let mut ports = StackPorts::free().unwrap();
        ports.model = ports.gateway;
        let message = ports.check_free().err().map(|error| error.to_string());
        assert!(
            message.as_deref().is_some_and(|m| m.contains("both")),
            "{message:?}"
        );
    }
}
