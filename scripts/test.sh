#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test, including the ones that run the
# real llama.cpp engine on the small smollm2-135m model and the real Python sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
source scripts/env.sh
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "build (release profile: llama.cpp is compiled once for clippy, tests and binary)"
cargo build --release --workspace --all-targets
step "clippy"
cargo clippy --release --workspace --all-targets -- -D warnings
step "pull the test model"
"$CARGO_TARGET_DIR/release/hypatia" model pull smollm2-135m
step "tests"
cargo test --release --workspace
step "browser test: the web page in headless Chromium (screenshots in test-artifacts/web)"
bash scripts/e2e.sh test-artifacts/web
step "load test: 50 concurrent tutoring sessions on loopback, overload answered with 429"
"$CARGO_TARGET_DIR/release/hypatia" bench serve --model smollm2-135m --sessions 50 --turns 2 \
  --max-in-flight 8 --out test-artifacts/serve-load.json
step "done"
