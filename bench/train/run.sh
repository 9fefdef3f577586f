#!/usr/bin/env bash
# Before and after SFT, measured: generate verified data from the training split, fine-tune a
# LoRA adapter on it, and evaluate the base model and the model with the adapter on the same
# seeded dev problems; `hypatia eval compare` gives the changed problems and McNemar's test.
#
#   bash bench/train/run.sh                                  # the CPU-sized run below
#   GEN_LIMIT=2000 EVAL_N=500 EPOCHS=2 bash bench/train/run.sh   # a GPU-sized one (with
#        BACKEND=http://127.0.0.1:8000 for generation on a vLLM server; train with
#        crates/train/python/sft_peft.py and point ADAPTER at the converted adapter)
#
# Every step resumes: data gen and eval continue where they stopped, an existing adapter is
# kept. The figures go to bench/results/sft-before-after-<model>-<date>.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh

MODEL=${MODEL:-qwen2.5-coder-0.5b}
STRATEGY=${STRATEGY:-pot}
DATA=${DATA:-../shared/data/gsm8k_train.jsonl}
GEN_LIMIT=${GEN_LIMIT:-30}
SAMPLES=${SAMPLES:-4}
EVAL_N=${EVAL_N:-60}
EPOCHS=${EPOCHS:-2}
RANK=${RANK:-16}
LR=${LR:-2e-4}
RUNS=${RUNS:-${HYPATIA_HOME:-$HOME/.cache/hypatia}/runs}
GEN=${GEN:-$RUNS/gen-$MODEL-$STRATEGY-$GEN_LIMIT}
ADAPTER=${ADAPTER:-$RUNS/sft-$MODEL-$STRATEGY-$GEN_LIMIT-e$EPOCHS.gguf}
backend=()
[ -n "${BACKEND:-}" ] && backend=(--backend "$BACKEND")

cargo build --release --bin hypatia -q
HYPATIA=$CARGO_TARGET_DIR/release/hypatia
start=$SECONDS
log() { echo "== $(date +%H:%M:%S) $*" >&2; }

log "data gen: $GEN_LIMIT training problems x $SAMPLES samples -> $GEN"
"$HYPATIA" data gen --model "$MODEL" --strategy "$STRATEGY" --data "$DATA" --limit "$GEN_LIMIT" \
    --samples "$SAMPLES" --max-tokens 512 --out "$GEN" "${backend[@]}" >/dev/null
gen_s=$((SECONDS - start))

extra=()
[ "$STRATEGY" = pot ] && extra+=(--no-explain)
before=$RUNS/before-$MODEL-$STRATEGY-dev$EVAL_N
after=$RUNS/after-$(basename "$ADAPTER" .gguf)-dev$EVAL_N
log "eval before: $EVAL_N dev problems -> $before"
t=$SECONDS
"$HYPATIA" eval --model "$MODEL" --strategy "$STRATEGY" "${extra[@]}" --data "$DATA" --split dev \
    --limit "$EVAL_N" --sample-seed 0 --out "$before" >/dev/null
before_s=$((SECONDS - t))

t=$SECONDS
if [ ! -f "$ADAPTER" ]; then
    log "sft: $EPOCHS epochs, rank $RANK, lr $LR -> $ADAPTER"
    "$HYPATIA" train sft --model "$MODEL" --data "$GEN/train.jsonl" --epochs "$EPOCHS" --rank "$RANK" \
        --lr "$LR" --batch 4 --out "$ADAPTER"
fi
sft_s=$((SECONDS - t))

log "eval after: the same problems with $ADAPTER -> $after"
t=$SECONDS
"$HYPATIA" eval --model "$MODEL" --adapter "$ADAPTER" --strategy "$STRATEGY" "${extra[@]}" --data "$DATA" \
    --split dev --limit "$EVAL_N" --sample-seed 0 --out "$after" >/dev/null
after_s=$((SECONDS - t))

mkdir -p bench/results
out=bench/results/sft-before-after-$MODEL-$(date +%Y-%m-%d).json
"$HYPATIA" eval compare "$before" "$after" | sed "s|$RUNS/|runs/|g" | tee "$out.compare.txt"
python3 - "$before/summary.json" "$after/summary.json" "$GEN/summary.json" "${ADAPTER%.gguf}.json" "$out" \
    "$gen_s" "$before_s" "$sft_s" "$after_s" "$RUNS" <<'EOF'
import json, os, sys
before, after, gen, sft, out = (sys.argv[1:6])
secs = dict(zip(["data_gen", "eval_before", "sft", "eval_after"], map(int, sys.argv[6:10])))
runs, home = sys.argv[10], os.path.expanduser("~")

def local(x):
    """The report names files relative to the runs folder, not by this machine's paths."""
    if isinstance(x, str):
        return x.replace(runs.rstrip("/") + "/", "runs/").replace(home, "~")
    if isinstance(x, list):
        return [local(v) for v in x]
    if isinstance(x, dict):
        return {k: local(v) for k, v in x.items()}
    return x

load = lambda p: json.load(open(p, encoding="utf-8"))
report = {"before": load(before), "after": load(after), "data_gen": load(gen), "sft": load(sft),
          "wall_seconds_this_run": secs}
json.dump(local(report), open(out, "w", encoding="utf-8"), indent=2)
print("written to", out, file=sys.stderr)
EOF
