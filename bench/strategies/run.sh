#!/usr/bin/env bash
# The strategies results table: every strategy on GSM8K-style and MATH-style dev problems
# for each model, then one Markdown table of accuracy (Wilson 95 % interval, n), tokens and
# seconds per problem.
#
#   bash bench/strategies/run.sh                                   # the full table, N=200
#   N=20 MODELS=qwen2.5-coder-0.5b STRATEGIES="cot pot" bash bench/strategies/run.sh
#
# Runs are resumable (rerun the same command to continue) and kept in $RUNS; the table is
# written to bench/results/strategies-<date>.md. Answers do not depend on the
# explanation, so pot runs with --no-explain; seconds per problem are only comparable
# between runs on the same machine with nothing else running.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh

MODELS=${MODELS:-"qwen2.5-coder-0.5b qwen2.5-coder-1.5b"}
STRATEGIES=${STRATEGIES:-"cot pot code-feedback tools solver-verifier vote"}
DATASETS=${DATASETS:-"gsm8k math"}
N=${N:-200}
SEED=${SEED:-0}
RUNS=${RUNS:-${HYPATIA_HOME:-$HOME/.cache/hypatia}/runs}

cargo build --release --bin hypatia -q
HYPATIA=$CARGO_TARGET_DIR/release/hypatia

dirs=()
for model in $MODELS; do
    for data in $DATASETS; do
        case $data in
            gsm8k) file=../shared/data/gsm8k_train.jsonl ;;
            math) file=../shared/data/math_test_minus500.jsonl ;;
            *) echo "unknown data set $data (gsm8k or math)" >&2; exit 2 ;;
        esac
        for strategy in $STRATEGIES; do
            dir=$RUNS/$model-$data-$strategy-n$N-s$SEED
            echo "== $model $data $strategy ($N problems) -> $dir" >&2
            extra=()
            [ "$strategy" = pot ] && extra+=(--no-explain)
            "$HYPATIA" eval --model "$model" --strategy "$strategy" "${extra[@]}" --data "$file" \
                --split dev --limit "$N" --sample-seed "$SEED" --out "$dir" >/dev/null
            dirs+=("$dir")
        done
    done
done

mkdir -p bench/results
out=bench/results/strategies-$(date +%Y-%m-%d).md
"$HYPATIA" eval table "${dirs[@]}" | tee "$out"
echo "written to $out" >&2
