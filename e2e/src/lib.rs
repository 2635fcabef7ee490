//! End-to-end harness for jitgate: a real Envoy running the built filter on free loopback
//! ports, stub servers playing the model server, issuer and collector, and the helpers tests,
//! `cargo xtask up` and the benchmarks share.
//!
//! ```no_run
//! # fn main() -> jitgate_e2e::Result<()> {
//! use jitgate_e2e::{http_client, LocalStack, StackOptions};
//! let stack = LocalStack::start(StackOptions::default())?;
//! let response = http_client()?
//!     .post(stack.envoy.url("/v1/chat/completions"))
//!     .body(r#"{"model": "m", "messages": []}"#)
//!     .send()?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(stack.upstream.requests_to("/v1/chat/completions").len(), 1);
//! # Ok(()) }
//! ```

pub mod bench;
pub mod bootstrap;
pub mod client;
pub mod collector;
pub mod devstack;
pub mod envoy;
pub mod error;
pub mod gate;
pub mod h2c;
pub mod issuer;
pub mod paths;
pub mod ports;
pub mod prometheus;
pub mod raw_http;
pub mod stack;
pub mod stub;
pub mod tokens;
pub mod validate;
pub mod wait;
pub mod walkthrough;

pub use bootstrap::{Backends, BootstrapTemplate, BootstrapValues, FilterModule};
pub use client::http_client;
pub use envoy::{Envoy, EnvoyOptions, EnvoySpec, FixedPorts};
pub use error::{Error, Result};
pub use paths::{envoy_binary, filter_wasm, repo_root};
pub use raw_http::{RawRequest, RawResponse};
pub use stack::{LocalStack, StackOptions};
pub use stub::feed::{FeedRoute, Revocation, DEFAULT_FEED_CREDENTIAL};
pub use stub::openai::{ModelRoute, STUB_USAGE};
pub use stub::record::RecordedRequest;
pub use stub::StubServer;
pub use validate::{validate, validate_in, validate_yaml};
