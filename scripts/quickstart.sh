#!/usr/bin/env bash
# Quick start: install what is needed, build, fetch the default model, and start the server.
# It prints the URL of the web page (http://127.0.0.1:8080/ unless --addr says otherwise);
# extra arguments go to `hypatia serve`, e.g. --model qwen2.5-coder-0.5b.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release -p hypatia-cli
"$CARGO_TARGET_DIR/release/hypatia" model pull
exec "$CARGO_TARGET_DIR/release/hypatia" serve "$@"
