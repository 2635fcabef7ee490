//! `jitgate-bench-signature-wasm`: how long one grant-token signature check takes inside
//! V8's WebAssembly, the engine Envoy runs the filter in. Native profiles (callgrind on
//! `bench/hot-path`) mislead here: on x86-64 the field arithmetic's 64×64→128-bit products
//! are one instruction, in wasm32 they are a library call, so the ranking of implementations
//! can differ. Build for `wasm32-wasip1` and run under Node's WASI:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip1 -p jitgate-bench-signature-wasm
//! node bench/signature-wasm/run.mjs $CARGO_TARGET_DIR/wasm32-wasip1/release/jitgate-bench-signature-wasm.wasm 3000
//! ```
//!
//! It prints microseconds per verification for `ed25519-compact` (what the filter used
//! before: decompresses the key and `R` and runs a double-scalar ladder on every call), for
//! jitgate's own Ed25519 verifier with its per-key table (`jitgate_grant::ed25519`), and for
//! ES256 through jitgate's key type — each over the same realistic token signing input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use jitgate_grant::ed25519::Ed25519Verifier;
use jitgate_grant::keys::SigningKey;

/// A grant token's signing input of typical length (header and claims, base64url).
const SIGNING_INPUT: &[u8] = b"eyJhbGciOiJFZERTQSIsImtpZCI6Ik5mQ1l3bmxJOUVOR2hUZ0t3TlN6dUpIWTZrSGtPaG9VX2c3T1FwdU5HM3MiLCJ0eXAiOiJhdCtqd3QifQ.eyJhcHByb3ZlcnMiOlsiYm9iQGV4YW1wbGUuY29tIl0sImF1ZCI6ImppdGdhdGUtZ2F0ZXdheSIsImV4cCI6MTgwMDAwMzYwMCwiZ3JhbnRfaWQiOiJncmFudC1iZW5jaCIsImlhdCI6MTc5OTk5OTk0MCwiaXNzIjoiaHR0cHM6Ly9pc3N1ZXIuaml0Z2F0ZS50ZXN0IiwianRpIjoiYmVuY2giLCJzY29wZSI6ImluZmVyZW5jZTptZXRhLWxsYW1hL0xsYW1hLTMuMS04Qi1JbnN0cnVjdCIsInN1YiI6ImFsaWNlQGV4YW1wbGUuY29tIn0";

fn per_call(count: u32, mut call: impl FnMut() -> bool) -> f64 {
    // Warm up: V8 compiles with Liftoff first and tiers up hot functions with TurboFan.
    for _ in 0..count / 10 + 1 {
        assert!(call());
    }
    let start = Instant::now();
    for _ in 0..count {
        assert!(black_box(call()));
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(count)
}

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
    let signature = pair.sk.sign(SIGNING_INPUT, None);

    let compact = per_call(count, || pair.pk.verify(SIGNING_INPUT, &signature).is_ok());

    let start = Instant::now();
    let verifier = Ed25519Verifier::new(*pair.pk).unwrap();
    let table_ms = start.elapsed().as_secs_f64() * 1e3;
    let table = per_call(count, || verifier.verify(SIGNING_INPUT, &signature));

    let es256 = SigningKey::p256_from_scalar(&[9; 32]).unwrap();
    let es256_signature = es256.sign(SIGNING_INPUT);
    let es256_public = es256.verifying_key();
    let es256_us = per_call(count / 3 + 1, || {
        es256_public.verifies(SIGNING_INPUT, &es256_signature)
    });

    println!("signature checks in wasm ({count} each), microseconds per verification:");
    println!("  ed25519-compact (key and R decompressed every call): {compact:.1}");
    println!(
        "  jitgate Ed25519 with the key's table: {table:.1} (table built once in {table_ms:.2} ms)"
    );
    println!("  jitgate ES256 (p256): {es256_us:.1}");
    println!(
        "  speed-up of the table over ed25519-compact: {:.2}x",
        compact / table
    );
}
