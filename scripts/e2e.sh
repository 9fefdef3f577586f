#!/usr/bin/env bash
# The web page end to end: starts `hypatia serve` on a free loopback port with the small
# test model, drives the page in headless Chromium with Playwright (tests/web/e2e.mjs), and
# keeps the screenshots in test-artifacts/web/. Needs scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-test-artifacts/web}"
mkdir -p "$out"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$CARGO_TARGET_DIR/release/hypatia" serve --addr 127.0.0.1:0 --db "$work/tutor.db" \
  --model smollm2-135m >"$work/stdout" 2>"$out/server.log" &
server_pid=$!
url=""
for _ in $(seq 600); do
  url=$(grep -o 'http://[^ ]*' "$work/stdout" 2>/dev/null | sed 's#/$##' || true)
  [[ -n $url ]] && curl -sf "$url/ready" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$url/ready" >/dev/null || { echo "e2e: the server never became ready" >&2; exit 1; }
node tests/web/e2e.mjs --url "$url" --out "$out"
