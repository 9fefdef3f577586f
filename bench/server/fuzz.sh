#!/usr/bin/env bash
# Fuzzes every route of the HTTP API with schemathesis, which generates requests (valid
# and invalid bodies, paths, query strings, headers) from the server's own /openapi.json,
# against `hypatia serve` on loopback running the real engine on smollm2-135m and a real
# SQLite store. Fails if any response is a 5xx, if the server process dies or if it
# logged a panic.
#
#   bash bench/server/fuzz.sh                     # 100 examples per operation, at most 20 min
#   EXAMPLES=20 MAX_TIME=300 bash bench/server/fuzz.sh
#
# Reports land in bench/server/out/ (schemathesis' JSON and NDJSON reports, the server log).
# For the fuzz run only, the schema handed to schemathesis caps `max_tokens` at 16 and `n`
# at 2, so that model calls stay short: the other bounds are the server's own.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
EXAMPLES="${EXAMPLES:-100}"
MAX_TIME="${MAX_TIME:-1200}"
SEED="${SEED:-1}"
OUT="${OUT:-bench/server/out}"
mkdir -p "$OUT"
VENV=bench/server/.venv
if [[ ! -x $VENV/bin/schemathesis ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==4.32.5"
fi
# The same build command as scripts/test.sh: one feature set, no rebuilds between them.
cargo build --release --workspace --all-targets
BIN="$CARGO_TARGET_DIR/release/hypatia"
"$BIN" model pull smollm2-135m >/dev/null
tmp="$(mktemp -d)"
"$BIN" serve --model smollm2-135m --addr 127.0.0.1:0 --db "$tmp/fuzz.db" --rate 1000000 \
  --max-in-flight 4 >"$tmp/stdout" 2>"$OUT/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 600); do
  url="$(sed -n 's/^Hypatia is listening on \(http[^ ]*\)\/$/\1/p' "$tmp/stdout")"
  [[ -n $url ]] && curl -sf "$url/ready" >/dev/null && break
  sleep 0.5
done
[[ -n ${url:-} ]] || { echo "the server did not start" >&2; exit 1; }
curl -sf "$url/openapi.json" | python3 -c '
import json, sys
spec = json.load(sys.stdin)
props = spec["components"]["schemas"]["ChatCompletionRequest"]["properties"]
for key in ("max_tokens", "max_completion_tokens"):
    props[key]["maximum"] = 16
props["n"]["maximum"] = 2
spec["components"]["schemas"]["SolveRequest"]["properties"]["max_tokens"]["maximum"] = 16
json.dump(spec, sys.stdout)' >"$tmp/openapi.json"
start=$(date +%s)
set +e
"$VENV/bin/schemathesis" run "$tmp/openapi.json" --url "$url" \
  --checks not_a_server_error,content_type_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" --max-time "$MAX_TIME" --seed "$SEED" --workers 2 \
  --request-timeout 300 --no-color --report json,ndjson --report-dir "$OUT" | tee "$OUT/schemathesis.txt"
st=$?
set -e
echo "wall seconds: $(( $(date +%s) - start ))"
alive=yes
kill -0 "$pid" 2>/dev/null || alive=no
panics=$(grep -c -i "panicked" "$OUT/server.log" || true)
echo "server alive after the run: $alive; panics logged: $panics; schemathesis exit: $st"
[[ $alive == yes && $panics == 0 && $st == 0 ]]
