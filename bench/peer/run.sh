#!/usr/bin/env bash
# Peer benchmark: Hypatia's best strategy against llama-cpp-python with a naive
# program-of-thought script, on the same problems, in one run, one after the other
# (never at once: ggml threads busy-wait and would slow each other).
#
#   bash bench/peer/run.sh                  # 20 GSM8K-style dev problems, qwen2.5-coder-1.5b
#   N=50 MODEL=qwen2.5-coder-0.5b bash bench/peer/run.sh
#
# Installs llama-cpp-python into $HYPATIA_HOME/bench/peer-venv on first use (it compiles
# llama.cpp: about 10 minutes on two cores). Writes bench/results/peer-<model>-<date>.json
# and prints accuracy (Wilson 95 % interval), seconds per problem and solved problems per
# hour for both sides, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh

MODEL=${MODEL:-qwen2.5-coder-1.5b}
N=${N:-20}
SEED=${SEED:-0}
DATA=${DATA:-../shared/data/gsm8k_train.jsonl}
STRATEGY=${STRATEGY:-pot}
PEER_VERSION=0.3.36
HOME_DIR=${HYPATIA_HOME:-$HOME/.cache/hypatia}
VENV=$HOME_DIR/bench/peer-venv
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"

cargo build --release --bin hypatia -q
HYPATIA=$CARGO_TARGET_DIR/release/hypatia
"$HYPATIA" model pull "$MODEL" >&2
MODEL_PATH=$HOME_DIR/models/$MODEL.gguf

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    echo "installing llama-cpp-python $PEER_VERSION into $VENV (compiles llama.cpp)..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-cache-dir "llama-cpp-python==$PEER_VERSION" >&2
fi

now() { date +%s.%N; }

echo "== Hypatia: $STRATEGY, $N problems ==" >&2
start=$(now)
"$HYPATIA" eval --model "$MODEL" --strategy "$STRATEGY" --no-explain --data "$DATA" \
    --split dev --limit "$N" --sample-seed "$SEED" --out "$WORK/hypatia" >"$WORK/hypatia.json"
ours_wall=$(awk -v a="$(now)" -v b="$start" 'BEGIN { print a - b }')

echo "== peer: llama-cpp-python $PEER_VERSION, naive program of thought ==" >&2
start=$(now)
"$VENV/bin/python" bench/peer/naive_pot.py --model "$MODEL_PATH" \
    --problems "$WORK/hypatia/results.jsonl" --out "$WORK/peer.jsonl"
peer_wall=$(awk -v a="$(now)" -v b="$start" 'BEGIN { print a - b }')

# The same checker grades both sides.
"$HYPATIA" grade --pairs "$WORK/peer.jsonl" >"$WORK/peer-verdicts.jsonl"
peer_correct=$(grep -c '"equal":true' "$WORK/peer-verdicts.jsonl" || true)
ours_correct=$(grep -c '"correct":true' "$WORK/hypatia/results.jsonl" || true)
peer_n=$(wc -l <"$WORK/peer.jsonl")
ours_n=$(wc -l <"$WORK/hypatia/results.jsonl")

mkdir -p bench/results
out=bench/results/peer-$MODEL-$(date +%Y-%m-%d).json
awk -v commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes)" -v model="$MODEL" -v strategy="$STRATEGY" -v n="$N" -v seed="$SEED" -v data="$(basename "$DATA")" \
    -v oc="$ours_correct" -v on="$ours_n" -v ow="$ours_wall" \
    -v pc="$peer_correct" -v pn="$peer_n" -v pw="$peer_wall" -v threads="$(nproc)" '
function wilson_low(k, n,   z, p, c, h) { z = 1.959964; if (n == 0) return 0; p = k / n;
    c = (p + z*z/(2*n)) / (1 + z*z/n); h = z * sqrt(p*(1-p)/n + z*z/(4*n*n)) / (1 + z*z/n); return c - h }
function wilson_high(k, n,   z, p, c, h) { z = 1.959964; if (n == 0) return 1; p = k / n;
    c = (p + z*z/(2*n)) / (1 + z*z/n); h = z * sqrt(p*(1-p)/n + z*z/(4*n*n)) / (1 + z*z/n); return c + h }
function side(name, k, m, wall) {
    if (m == 0) m = 1
    printf "  \"%s\": {\"correct\": %d, \"n\": %d, \"accuracy\": %.4f, \"ci95\": [%.4f, %.4f], \"wall_seconds\": %.1f, \"seconds_per_problem\": %.1f, \"solved_per_hour\": %.1f}", \
        name, k, m, k/m, wilson_low(k, m), wilson_high(k, m), wall, wall/m, k*3600/wall }
BEGIN {
    printf "{\n  \"commit\": \"%s\",\n  \"model\": \"%s\", \"strategy\": \"%s\", \"data\": \"%s\", \"split\": \"dev\", \"limit\": %d, \"sample_seed\": %d, \"cores\": %d,\n", commit, model, strategy, data, n, seed, threads
    side("hypatia", oc, on, ow); printf ",\n"; side("peer", pc, pn, pw); printf ",\n"
    ratio = (pc > 0) ? (oc/ow) / (pc/pw) : -1
    printf "  \"solved_per_hour_ratio\": %.2f\n}\n", ratio
}' | tee "$out"
echo "written to $out (work files in $WORK)" >&2
