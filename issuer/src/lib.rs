//! The jitgate issuer: people and agents ask for a narrow scope for a bounded time, a Cedar
//! policy approves at once or routes the request to reviewers, and an approved request becomes
//! short-lived grant tokens that the Envoy filter checks.
//!
//! [`app`] builds the HTTP API from an [`AppState`]; `jitgate issuer serve` (in the CLI
//! crate) is a thin wrapper that reads configuration and calls [`serve::run`].

pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod guard;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod notify;
pub mod policy;
pub mod rate_limit;
pub mod requests;
pub mod routes;
pub mod serve;
pub mod service;
pub mod state;
pub mod store;
pub mod web;

pub use error::{Error, Result};
pub use routes::app;
pub use state::{AppState, Settings, Shared};
