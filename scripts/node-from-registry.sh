#!/usr/bin/env bash
# Prints the bin folder of Node.js VERSION for this machine, installing it first from the npm
# registry (package node-<os>-<arch>) when it is not cached yet. The cache lives outside the
# checkout (FABRIC_NODE_CACHE, default ~/.cache/inference-fabric) and is reused by later runs.
#   scripts/node-from-registry.sh 24.22.3   ->   /root/.cache/inference-fabric/node-24.22.3/.../bin
set -euo pipefail
version="${1:?usage: node-from-registry.sh VERSION}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node-from-registry: no Node.js package for $(uname -m) on the npm registry" >&2; exit 1 ;;
esac
pkg="node-$(uname -s | tr '[:upper:]' '[:lower:]')-$arch"
dir="${FABRIC_NODE_CACHE:-$HOME/.cache/inference-fabric}/node-$version"
bin="$dir/node_modules/$pkg/bin"
if [ ! -x "$bin/node" ]; then
  echo "node-from-registry: installing Node.js $version ($pkg) from the npm registry into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$pkg@$version" >&2
fi
"$bin/node" --version >/dev/null
echo "$bin"
