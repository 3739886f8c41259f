#!/usr/bin/env bash
# GPU check: NVML through the fabric's binding vs nvidia-smi, and NVML's view of a known PyTorch
# allocation (see docs/gpu-check.md). Needs .gpu-check/ from scripts/prepare-gpu-check.sh, or a
# checkout with node_modules. Uses `node` from PATH if it is >= 20, else the carried .gpu-check/node.xz.
# Arguments pass through: --bytes=4GiB --device=0 --python=python3 --library=libnvidia-ml.so.1 --out=FILE
# Exit codes: 0 pass, 1 mismatch, 2 no GPU / NVML unusable, 3 incomplete (no node, no bundle, no torch).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/.gpu-check"

node_ok() {
  "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' >/dev/null 2>&1
}

# Unpacks the carried node.xz with xz, or with Python's lzma module when xz is not installed.
unpack_node() {
  local target="$1"
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$dir/node.xz" > "$target.part" || return 1
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$dir/node.xz" "$target.part" || return 1
  else
    echo "gpu-check: neither xz nor python3 is here to unpack $dir/node.xz" >&2
    return 1
  fi
  chmod +x "$target.part" && mv "$target.part" "$target"
}

find_node() {
  if [ -n "${GPU_CHECK_NODE:-}" ]; then
    echo "$GPU_CHECK_NODE"; return 0
  fi
  if command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then
    command -v node; return 0
  fi
  local candidate
  for candidate in "$dir/node" "${TMPDIR:-/tmp}/fabric-gpu-check-node"; do
    if [ -x "$candidate" ] && node_ok "$candidate"; then
      echo "$candidate"; return 0
    fi
  done
  if [ -f "$dir/node.xz" ]; then
    # The working tree may be read-only; fall back to a temp dir.
    for candidate in "$dir/node" "${TMPDIR:-/tmp}/fabric-gpu-check-node"; do
      if unpack_node "$candidate" && node_ok "$candidate"; then
        echo "$candidate"; return 0
      fi
    done
    echo "gpu-check: could not unpack a working node from $dir/node.xz" >&2
    return 1
  fi
  echo "gpu-check: no node >= 20 on PATH and no $dir/node.xz (run scripts/prepare-gpu-check.sh and carry .gpu-check)" >&2
  return 1
}

node_bin="$(find_node)" || exit 3
echo "gpu-check: node $("$node_bin" --version) at $node_bin" >&2

if [ -f "$dir/gpu-check.mjs" ]; then
  exec "$node_bin" "$dir/gpu-check.mjs" "$@"
elif [ -d "$root/node_modules/koffi" ]; then
  # From source: Node 22.18+ runs the TypeScript by type stripping.
  cd "$root" && exec "$node_bin" tools/gpu-check/gpu-check-main.ts "$@"
fi
echo "gpu-check: no $dir/gpu-check.mjs and no node_modules (run scripts/prepare-gpu-check.sh and carry .gpu-check)" >&2
exit 3
