#!/usr/bin/env bash
# Vendors KaTeX into crates/server/web/vendor/katex/ so the web page renders math offline
# (the server embeds crates/server/web/ in its binary; no CDN is ever asked).
#
# Pinned: katex@0.16.47 (MIT), the npm tarball's integrity as npm reports it:
#   sha512-Eeo8Ys1doU1z+x8AZsPpQu+p/QcZBI5PeOo7QGQdy2x2m0MU/hYagBbGOmXwr5KVbEfVuWv9LpnQWeehogurjg==
#
# Copies only dist/katex.min.js, dist/katex.min.css, dist/contrib/auto-render.min.js,
# dist/fonts/*.woff2 and LICENSE. katex.min.css lists the .woff2 source of every font
# first, so a browser that reads woff2 (all current ones) never asks for .woff/.ttf.
# Needs npm. Safe to run again: it replaces the vendored files with the same ones.
# Usage: scripts/vendor-katex.sh   (to move to another version, change both pins below)
set -euo pipefail

KATEX_VERSION=0.16.47
KATEX_INTEGRITY='sha512-Eeo8Ys1doU1z+x8AZsPpQu+p/QcZBI5PeOo7QGQdy2x2m0MU/hYagBbGOmXwr5KVbEfVuWv9LpnQWeehogurjg=='

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/crates/server/web/vendor/katex"
command -v npm >/dev/null || { echo "vendor-katex: npm not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

npm pack "katex@$KATEX_VERSION" --json --silent >pack.json
tarball=$(node -e 'const p=JSON.parse(require("fs").readFileSync("pack.json","utf8"));process.stdout.write(p[0].filename)')
reported=$(node -e 'const p=JSON.parse(require("fs").readFileSync("pack.json","utf8"));process.stdout.write(p[0].integrity)')
actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"

echo "vendor-katex: katex@$KATEX_VERSION integrity $actual" >&2
if [[ $actual != "$KATEX_INTEGRITY" ]]; then
  echo "vendor-katex: integrity mismatch: expected $KATEX_INTEGRITY" >&2
  exit 1
fi
if [[ $reported != "$KATEX_INTEGRITY" ]]; then
  echo "vendor-katex: npm reports integrity $reported, expected $KATEX_INTEGRITY" >&2
  exit 1
fi

tar xzf "$tarball"
pkg="$tmp/package"
for f in dist/katex.min.js dist/katex.min.css dist/contrib/auto-render.min.js LICENSE; do
  [[ -f $pkg/$f ]] || { echo "vendor-katex: $f missing from the package" >&2; exit 1; }
done

rm -rf "$dest"
mkdir -p "$dest/contrib" "$dest/fonts"
cp "$pkg/dist/katex.min.js" "$pkg/dist/katex.min.css" "$pkg/LICENSE" "$dest/"
cp "$pkg/dist/contrib/auto-render.min.js" "$dest/contrib/"
cp "$pkg"/dist/fonts/*.woff2 "$dest/fonts/"
chmod 644 "$dest"/*.* "$dest"/LICENSE "$dest"/contrib/* "$dest"/fonts/*
echo "vendor-katex: wrote $(find "$dest" -type f | wc -l) files to ${dest#"$root"/}" >&2
