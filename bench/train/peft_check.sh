#!/usr/bin/env bash
# The PyTorch/PEFT trainer and the CPU trainer agree: train an adapter with
# crates/train/python/sft_peft.py from a GGUF base, convert it with `hypatia adapter
# from-peft`, and compare the loss PyTorch measured on held-out examples (before and after
# training) with `hypatia train score` on the same examples, base and adapter. Equal losses
# mean the same tokens (chat template, tokenizer), the same base weights and the same
# adapter once converted (llama's permuted q/k rows included).
#
#   bash bench/train/peft_check.sh                        # smollm2-135m, CPU torch
#   MODEL=qwen2.5-coder-0.5b bash bench/train/peft_check.sh
#
# Needs PyPI (torch, transformers, peft, gguf go into $VENV); on a GPU machine torch uses
# CUDA in bfloat16, so the losses then agree only to about 1e-2.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh

MODEL=${MODEL:-smollm2-135m}
DATA=${DATA:?a chat JSON Lines file, e.g. the train.jsonl of hypatia data gen}
TRAIN_N=${TRAIN_N:-8}
HELD_N=${HELD_N:-4}
VENV=${VENV:-${HYPATIA_HOME:-$HOME/.cache/hypatia}/peft-venv}
WORK=${WORK:-$(mktemp -d)}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r crates/train/python/requirements.txt
fi
cargo build --release --bin hypatia -q
HYPATIA=$CARGO_TARGET_DIR/release/hypatia
"$HYPATIA" model pull "$MODEL" >&2
base=${HYPATIA_HOME:-$HOME/.cache/hypatia}/models/$MODEL.gguf

head -n "$TRAIN_N" "$DATA" >"$WORK/train.jsonl"
tail -n +"$((TRAIN_N + 1))" "$DATA" | head -n "$HELD_N" >"$WORK/held.jsonl"
"$VENV/bin/python" crates/train/python/sft_peft.py --gguf "$base" --data "$WORK/train.jsonl" \
    --eval-data "$WORK/held.jsonl" --out "$WORK/peft" --rank 8 --alpha 16 --lr 1e-3 \
    --epochs 2 --batch 4
"$HYPATIA" adapter from-peft --in "$WORK/peft" --out "$WORK/peft.gguf" --model "$MODEL"
"$HYPATIA" train score --model "$MODEL" --data "$WORK/held.jsonl" >"$WORK/score-base.json"
"$HYPATIA" train score --model "$MODEL" --data "$WORK/held.jsonl" --adapter "$WORK/peft.gguf" \
    >"$WORK/score-adapter.json"

mkdir -p bench/results
out=bench/results/peft-check-$MODEL-$(date +%Y-%m-%d).json
python3 - "$WORK" "$out" <<'EOF'
import json, sys
work, out = sys.argv[1:3]
load = lambda name: json.load(open(f"{work}/{name}", encoding="utf-8"))
torch_run = load("peft/train_report.json")
rows = []
for which, ours in (("before", load("score-base.json")), ("after", load("score-adapter.json"))):
    for i, (t, h) in enumerate(zip(torch_run[f"eval_losses_{which}"], ours["losses"])):
        rows.append({"adapter": which, "example": i, "pytorch": t, "hypatia": h,
                     "difference": None if t is None or h is None else h - t})
worst = max(abs(r["difference"]) for r in rows if r["difference"] is not None)
result = {"model": torch_run["model"].rsplit("/", 1)[-1], "device": torch_run["device"],
          "train_losses": [s["loss"] for s in torch_run["steps"]], "rows": rows,
          "max_abs_difference": worst}
json.dump(result, open(out, "w", encoding="utf-8"), indent=2)
for r in rows:
    print(f"{r['adapter']:>6} example {r['example']}: pytorch {r['pytorch']:.5f}  hypatia {r['hypatia']:.5f}")
print(f"largest difference {worst:.2e} nats/token; written to {out}")
EOF
