# Mirrors `cargo xtask`; every recipe is one call to it, so the two never disagree.

# List the recipes.
default:
    @just --list

# Install or check the pinned tools (Rust targets, Envoy, Node.js, wasm-bindgen-cli) in .tools/.
setup:
    cargo xtask setup

# Build the release filter .wasm and the native binaries.
build:
    cargo xtask build

# The whole local stack on loopback (issuer, collector, stub model server, Envoy + filter), until Ctrl-C.
up *FLAGS:
    cargo xtask up {{FLAGS}}

# Run everything CI runs.
test:
    cargo xtask test

# Fuzz every target (or one) for N seconds each: just fuzz, just fuzz route_match --seconds 60.
fuzz *ARGS:
    cargo xtask fuzz {{ARGS}}

# Regenerate the conformance vectors in testdata/vectors/.
vectors:
    cargo xtask vectors

# Benchmarks beside Envoy's native filters; writes docs/benchmarks.md (about 10 minutes).
bench:
    cargo xtask bench
