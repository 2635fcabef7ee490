//! The grant tokens the load carries: minted up front with the TEST-ONLY keys, valid for an
//! hour so a full run never sees one expire, and written one per line for `wrk`'s script.

use std::path::Path;

use jitgate_conformance::catalog::standard_claims;
use jitgate_conformance::recipe::{Recipe, Times};
use jitgate_conformance::testkeys::TestKey;
use serde_json::Value;

use crate::bench::error::BenchError;
use crate::tokens::now;

/// The scope every benchmark token holds: the header-scoped route's and the body-scoped
/// route's, so one token passes both jitgate and the native RBAC check.
pub const BENCH_SCOPE: &str = "training:jobs:read inference:meta-llama/Llama-3.1-8B-Instruct";

/// Issued a minute ago, valid for an hour: longer than any run.
const BENCH_TIMES: Times = Times {
    iat: Some(-60),
    nbf: None,
    exp: Some(3600),
};

/// The budget of configuration (5b)'s grant: far more than any run sends, so every request
/// is counted and none is refused.
pub const BENCH_LIMITS: (u64, u64) = (1_000_000_000_000, 1_000_000_000_000_000);

/// One token for grant `grant-<name>` (its own `jti` and `grant_id`) holding [`BENCH_SCOPE`].
pub fn bench_token(name: &str) -> String {
    let mut claims = standard_claims(name);
    claims.insert("scope".into(), Value::String(BENCH_SCOPE.to_owned()));
    Recipe::honest(TestKey::Ed25519, claims, BENCH_TIMES).token(now())
}

/// The same with [`BENCH_LIMITS`] in its `limits` claim.
pub fn budgeted_bench_token(name: &str) -> String {
    let mut claims = standard_claims(name);
    claims.insert("scope".into(), Value::String(BENCH_SCOPE.to_owned()));
    let (requests, tokens) = BENCH_LIMITS;
    claims.insert(
        "limits".into(),
        serde_json::json!({"requests": requests, "tokens": tokens}),
    );
    Recipe::honest(TestKey::Ed25519, claims, BENCH_TIMES).token(now())
}

/// `count` distinct tokens, minted on every core (a debug build signs slowly).
pub fn distinct_tokens(prefix: &str, count: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = count.div_ceil(threads.max(1));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let start = thread * per_thread;
                let end = (start + per_thread).min(count);
                scope.spawn(move || {
                    (start..end)
                        .map(|index| bench_token(&format!("{prefix}-{index}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    })
}

/// Writes `tokens` one per line to `path`.
pub fn write_token_file(path: &Path, tokens: &[String]) -> Result<(), BenchError> {
    let mut text = tokens.join("\n");
    text.push('\n');
    std::fs::write(path, text).map_err(BenchError::file(path))
}
