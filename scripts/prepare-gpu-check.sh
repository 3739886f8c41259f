#!/usr/bin/env bash
# Builds .gpu-check/ for a GPU machine that may have no Node.js of its own:
#   gpu-check.mjs          the check, bundled with esbuild (tools/gpu-check/gpu-check-main.ts and what it imports)
#   node_modules/koffi     koffi's loader + @koromix/koffi-linux-x64 (the prebuilt koffi.node)
#   node.xz                this machine's node binary, debug info stripped, xz-compressed (~23 MB)
# Then carry ".gpu-check" to the GPU machine and run scripts/gpu-check.sh there.
# Options: --no-node (skip the binary when the target has Node >= 20), NODE_BIN=/path/to/node.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.gpu-check"
with_node=1
for arg in "$@"; do
  case "$arg" in
    --no-node) with_node=0 ;;
    *) echo "usage: $0 [--no-node]" >&2; exit 64 ;;
  esac
done

cd "$root"
for dir in node_modules/koffi node_modules/@koromix/koffi-linux-x64 node_modules/.bin/esbuild; do
  [ -e "$dir" ] || { echo "prepare-gpu-check: $dir is missing; run npm ci first" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/node_modules/@koromix"

# koffi stays outside the bundle: its loader finds the native module relative to its own files.
node_modules/.bin/esbuild tools/gpu-check/gpu-check-main.ts --bundle --platform=node --format=esm \
  --target=node22 --external:koffi --log-level=warning --outfile="$out/gpu-check.mjs"
cp -R node_modules/koffi "$out/node_modules/koffi"
rm -rf "$out/node_modules/koffi/doc" "$out/node_modules/koffi/vendor" "$out/node_modules/koffi/src/koffi/src/abi"
cp -R node_modules/@koromix/koffi-linux-x64 "$out/node_modules/@koromix/koffi-linux-x64"

if [ "$with_node" = 1 ]; then
  node_bin="${NODE_BIN:-$(command -v node)}"
  echo "prepare-gpu-check: compressing $node_bin ($("$node_bin" --version)); xz -9 takes a minute or two" >&2
  tmp="$out/node.tmp"
  if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$tmp" "$node_bin"   # .dynsym stays, so native addons (koffi.node) still link
  else
    cp "$node_bin" "$tmp"
  fi
  xz -9 -T0 -c "$tmp" > "$out/node.xz"
  rm -f "$tmp"
  "$node_bin" --version > "$out/node.version"
fi

# The device tool carries at most 64 MiB in all; say how much of it this takes.
size_kib="$(du -sk "$out" | cut -f1)"
echo "prepare-gpu-check: $out is $((size_kib / 1024)) MiB" >&2
if [ "$size_kib" -gt $((56 * 1024)) ]; then
  echo "prepare-gpu-check: warning: over 56 MiB, little room left under the 64 MiB carry limit" >&2
fi
