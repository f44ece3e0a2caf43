#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (SoftHSM2 from Debian, moto from PyPI into .build/), then format, lints,
# API docs without warnings, every feature combination, all tests (moto and
# SoftHSM2 included), doctests, and a build of the benchmarks. Every step
# shares one target folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "system packages"
install_system_packages

step "moto"
install_moto

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --all-targets --all-features --locked -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps --locked

step "feature combinations"
# Each feature alone, none, and the defaults: what `cargo hack --each-feature`
# checks, without installing cargo-hack.
cargo check --lib --locked --no-default-features
for feature in $(crate_features); do
    echo "-- --no-default-features --features $feature"
    cargo check --lib --locked --no-default-features --features "$feature"
done
cargo check --lib --locked

step "tests"
# nextest runs test binaries in parallel, each test in its own process; plain
# cargo test is the fallback where nextest is not installed.
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --all-features --locked --no-fail-fast
else
    cargo test --all-features --locked --no-fail-fast --tests
fi

step "doctests"
cargo test --doc --all-features --locked

step "benchmarks build"
cargo bench --no-run --locked

step "done"
