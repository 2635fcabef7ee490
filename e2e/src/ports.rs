//! Free loopback ports for the processes the harness starts.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use crate::error::{Error, Result};

/// A loopback address whose port the OS just reported free.
///
/// The port is released before Envoy binds it, so another process may take it in between;
/// [`crate::Envoy::start`] retries with fresh ports when Envoy reports the address in use.
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(Error::io("bind 127.0.0.1:0 to find a free port"))?;
    listener
        .local_addr()
        .map_err(Error::io("read the address of a free port"))
}
