# Sourced by the scripts: one build directory outside the clone, shared by every command,
# so llama.cpp (10+ minutes of C++) is compiled once per machine and one profile
# (release) serves the binary, clippy and the tests.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hypatia-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
