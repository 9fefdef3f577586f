#!/usr/bin/env bash
# Quick start: install what is needed, build, fetch the default model, solve a problem.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release -p hypatia-cli
"$CARGO_TARGET_DIR/release/hypatia" model pull
"$CARGO_TARGET_DIR/release/hypatia" solve --strategy cot \
  "A pen costs 3 dollars and a notebook 4 times as much. What do 2 pens and 3 notebooks cost?"
