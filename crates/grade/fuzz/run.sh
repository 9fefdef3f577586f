#!/usr/bin/env bash
# Builds and runs the hypatia-grade fuzz target on the *stable* toolchain.
#
# cargo-fuzz needs nightly only for its sanitizer flags; libFuzzer itself (via
# libfuzzer-sys) works on stable when the coverage instrumentation that cargo-fuzz
# would add is passed by hand, which is what this script does (no ASan: Rust code here
# is safe code, and panics/aborts/timeouts/OOM are what we hunt).
#
#   crates/grade/fuzz/run.sh              # 30 minutes, the issue's bar
#   crates/grade/fuzz/run.sh 120          # 2 minutes
#
# Findings land in crates/grade/fuzz/artifacts/; reproduce one with
#   crates/grade/fuzz/run.sh 0 artifacts/crash-…
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-1800}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hypatia-grade-fuzz-target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Ctarget-cpu=native"
# An explicit --target keeps the coverage flags off build scripts (as cargo-fuzz does).
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --bin equivalent --target "$TRIPLE"
mkdir -p corpus artifacts
# Seed the corpus with the committed test answers.
if [ -z "$(ls -A corpus)" ]; then
  python3 - <<'PY'
import json, hashlib
for line in open("../tests/data/math_answer_cases.jsonl"):
    c = json.loads(line)
    b = (c["gold"] + "\0" + c["pred"]).encode()
    open("corpus/" + hashlib.sha1(b).hexdigest(), "wb").write(b)
PY
fi
BIN="$CARGO_TARGET_DIR/$TRIPLE/release/equivalent"
if [ "$#" -gt 0 ]; then
  exec "$BIN" "$@"
fi
exec "$BIN" corpus -max_total_time="$SECS" -max_len=512 -timeout=2 -rss_limit_mb=2048 \
  -artifact_prefix=artifacts/ -print_final_stats=1
