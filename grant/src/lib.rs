//! The pure core of jitgate, shared by the Envoy filter, the issuer, the collector, the CLI and
//! the WebAssembly component: grant claims, token signing and verification, keys and JWKS,
//! the scope grammar, route rules, the one `decide` function with its reason codes and the
//! budget rule it ends with, and the audit record with its OTLP mapping.
//!
//! This crate must never do I/O, read a clock, spawn work or depend on proxy-wasm: every input
//! (token, keys, revocations, the current time) is passed in, so the same bytes give the same
//! decision on every host — natively, inside Envoy, and in any WebAssembly runtime.

pub mod audit;
pub mod base64url;
pub mod budget;
pub mod cache;
pub mod claims;
pub mod decide;
pub mod digest;
pub mod ed25519;
pub mod jwks;
pub mod keys;
pub mod mint;
pub mod model;
pub mod policy;
pub mod reason;
pub mod revocation;
pub mod route;
pub mod scope;
pub mod time;
pub mod token;
pub mod verify;

pub use budget::{GrantUsage, NothingUsed, UsageState, UsageTable, UsageView};
pub use cache::VerificationCache;
pub use claims::{Audience, GrantClaims, Limits};
pub use decide::{
    decide, decide_cached, Decision, DecisionInputs, KeyState, ModelFact, Outcome, RequestFacts,
    RevocationState, TokenInput,
};
pub use digest::TokenDigest;
pub use jwks::{JwksError, KeySet};
pub use keys::{KeyAlgorithm, KeyError, SigningKey, VerifyingKey};
pub use mint::{mint, MintError};
pub use model::{extract_model, read_model};
pub use policy::{Policy, PolicyConfig, PolicyError, PolicyLimits, Unmatched};
pub use reason::{DenyResponse, Reason};
pub use revocation::{NoRevocations, RevocationView, RevokedGrants};
pub use route::{RouteConfig, RouteRule, RouteTable, ScopeTemplate};
pub use scope::{GrantedScope, Scope, ScopeError};
pub use time::UnixTime;
pub use token::extract_bearer;
pub use verify::{verify_token, TokenRules, VerifiedGrant};
