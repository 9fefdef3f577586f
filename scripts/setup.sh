#!/usr/bin/env bash
# Installs what building Hypatia needs on Debian/Ubuntu: a C/C++ toolchain with cmake and
# libclang (llama.cpp is compiled from source by the llama-cpp-sys-2 crate) and Python 3
# with pip and venv (models are fetched with pip; model-written programs run in a venv).
# With --tests it also installs what the test suite needs beyond that: Chromium, Node.js and
# playwright-core for the browser test of the web page.
# Safe to run again: it installs only what is missing.
set -euo pipefail
tests=false
[[ ${1:-} == --tests ]] && tests=true

# A Python that is not Debian's (pyenv, a venv) may already bring pip and venv.
python_ok=false
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 \
   && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  python_ok=true
fi
pkgs=()
wanted=(curl cmake clang libclang-dev pkg-config python3 python3-pip python3-venv)
$tests && wanted+=(chromium fonts-dejavu-core)
for pkg in "${wanted[@]}"; do
  if $python_ok && [[ $pkg == python3* ]]; then continue; fi
  dpkg -s "$pkg" >/dev/null 2>&1 || pkgs+=("$pkg")
done
# Node.js and npm run the browser test of the web page (tests/web); any node on PATH will do.
if $tests && ! command -v node >/dev/null; then
  pkgs+=(nodejs npm)
elif $tests && ! command -v npm >/dev/null; then
  pkgs+=(npm)
fi
if ((${#pkgs[@]})); then
  echo "setup: installing ${pkgs[*]}" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# The browser test's one dependency, playwright-core, pinned by tests/web/package-lock.json
# (it drives the Debian chromium installed above; it downloads no browser of its own).
web_tests="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/web"
if $tests && [[ ! -d $web_tests/node_modules/playwright-core ]]; then
  echo "setup: installing the browser test's npm packages" >&2
  (cd "$web_tests" && npm ci --no-audit --no-fund)
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust stable (https://rustup.rs)" >&2; exit 1; }
