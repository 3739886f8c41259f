#!/usr/bin/env bash
# Builds .gpu-llama/ for running the embedded llama.cpp engine on a GPU machine that has no
# Node.js and no network, and takes at most 64 MiB per device call (docs/llama-gpu-check.md):
#   llama-gpu-check/llama-gpu-check.mjs   tools/gpu-check/llama-gpu-check-main.ts bundled with esbuild
#   llama-gpu-check/node_modules          what stays external: node-llama-cpp (it resolves its
#       binaries and forks its binary test relative to its own files) with its runtime
#       dependencies, @node-llama-cpp/linux-x64-cuda (CUDA 13), linux-x64-vulkan and linux-x64
#       (CPU), koffi
#   llama-gpu-check/vulkan-loader         the Vulkan loader (libvulkan.so.1) and what an NVIDIA
#       Vulkan driver links beside it (libGLdispatch, libX11, libXext and theirs), from Debian
#       bookworm .debs in .gl/ (downloaded with apt-get when missing), for a GPU machine that
#       has none: scripts/llama-gpu-check.sh links in only those the system lacks
# packed as one tar.xz and split into .gpu-llama/p1, p2, ... (p1 at most P1_MIB, since it travels
# with .gpu-check; the others at most PART_MIB). Every part folder holds manifest.txt (the part
# count, each part's size and sha256). The node binary comes from .gpu-check/node.xz
# (scripts/prepare-gpu-check.sh) on the GPU machine. Before packing, the tree is run from a copy
# in a temp folder (CPU, tiny model) to prove it needs nothing from this checkout.
# Options: --no-verify (skip that run). Env: P1_MIB=34 PART_MIB=58 XZ_LEVEL=-9e,
#   VK_DEBS_DIR (default .gl: the loader .debs, e.g. from `apt-get download libvulkan1 ...`)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.gpu-llama"
p1_mib="${P1_MIB:-34}"
part_mib="${PART_MIB:-58}"
xz_level="${XZ_LEVEL:--9e}"
verify=1
debs_dir="${VK_DEBS_DIR:-$root/.gl}"
# The Vulkan loader and the libraries libGLX_nvidia.so.0 (the NVIDIA Vulkan driver) links, with theirs.
vk_debs=(libvulkan1 libglvnd0 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0)
for arg in "$@"; do
  case "$arg" in
    --no-verify) verify=0 ;;
    *) echo "usage: $0 [--no-verify]" >&2; exit 64 ;;
  esac
done

cd "$root"
for path in node_modules/node-llama-cpp node_modules/@node-llama-cpp/linux-x64-cuda node_modules/@node-llama-cpp/linux-x64 \
  node_modules/@node-llama-cpp/linux-x64-vulkan node_modules/koffi node_modules/@koromix/koffi-linux-x64 node_modules/.bin/esbuild; do
  [ -e "$path" ] || { echo "prepare-llama-gpu-check: $path is missing; run npm ci first" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/prepare-llama-gpu-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tree="$work/llama-gpu-check"
mkdir -p "$tree"
say() { echo "prepare-llama-gpu-check: $*" >&2; }

# pino and the other CommonJS code in the bundle call require(); give the ESM bundle one.
node_modules/.bin/esbuild tools/gpu-check/llama-gpu-check-main.ts --bundle --platform=node --format=esm --target=node22 \
  --external:node-llama-cpp --external:koffi '--external:@node-llama-cpp/*' --log-level=warning \
  --banner:js="import { createRequire as __fabricRequire } from 'node:module'; const require = __fabricRequire(import.meta.url);" \
  --outfile="$tree/llama-gpu-check.mjs"

# node-llama-cpp's and koffi's runtime dependency closure, copied package by package (nested
# node_modules only where npm put them), without the platform packages other than linux-x64 and
# linux-x64-cuda, and without what running needs none of.
node --input-type=module - "$root" "$tree" <<'EOF'
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
const [root, tree] = process.argv.slice(2);
const platform = /^@(node-llama-cpp|koromix)\//;
const keepPlatform = new Set(['@node-llama-cpp/linux-x64', '@node-llama-cpp/linux-x64-cuda', '@node-llama-cpp/linux-x64-vulkan', '@koromix/koffi-linux-x64']);
const seen = new Set();
function find(from, name) {
  for (let dir = from; ; dir = dirname(dir)) {
    if (dir.endsWith('/node_modules')) continue;
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root) return null;
  }
}
function walk(dir) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const [name, optional] of [...Object.keys(pkg.dependencies ?? {}).map((n) => [n, false]), ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => [n, true])]) {
    if (platform.test(name) && !keepPlatform.has(name)) continue;
    const found = find(dir, name);
    if (found) walk(found);
    else if (!optional) throw new Error(`${name} (needed by ${pkg.name}) is not installed`);
  }
}
for (const name of ['node-llama-cpp', 'koffi', ...keepPlatform]) walk(join(root, 'node_modules', name));
const dropFile = /(\.map|\.d\.ts|\.d\.cts|\.d\.mts|\.md|\.markdown)$/i;
const dropDir = new Set(['docs', 'doc', 'test', 'tests', '__tests__', 'example', 'examples', '.github']);
for (const dir of seen) {
  cpSync(dir, join(tree, relative(root, dir)), {
    recursive: true,
    filter: (src) => {
      const rel = relative(dir, src);
      if (rel === '') return true;
      const parts = rel.split('/');
      if (parts[0] === 'node_modules') return false; // nested packages are copied as packages of their own
      return !dropFile.test(src) && !parts.some((p) => dropDir.has(p));
    },
  });
}
console.error(`prepare-llama-gpu-check: copied ${seen.size} packages`);
EOF

nm="$tree/node_modules"
# node-llama-cpp: the llama.cpp sources and build files are only for compiling; the prebuilt
# binaries never need them. Kept: the release info and grammars it reads at run time.
(cd "$nm/node-llama-cpp/llama" && find . -mindepth 1 -maxdepth 1 \
  ! -name binariesGithubRelease.json ! -name llama.cpp.info.json ! -name package.json ! -name grammars -exec rm -rf {} +)
rm -rf "$nm/node-llama-cpp/templates" "$nm/koffi/vendor" "$nm/koffi/src/koffi/src/abi" "$nm/node-api-headers/include" "$nm/node-addon-api/tools"
# The CPU and Vulkan packages' libraries that are byte-identical to the CUDA package's become hard
# links (tar stores them once).
cuda_bins="$nm/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda"
for bins in "$nm/@node-llama-cpp/linux-x64/bins/linux-x64" "$nm/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan"; do
  for f in "$bins"/*; do
    twin="$cuda_bins/$(basename "$f")"
    if [ -f "$twin" ] && cmp -s "$f" "$twin"; then ln -f "$twin" "$f"; fi
  done
done

# The Vulkan loader for a GPU machine without one (the device notes: `ldconfig -p | grep libvulkan`
# may print nothing there): the shared libraries of the .debs, as files and their soname links.
missing_debs=()
for p in "${vk_debs[@]}"; do ls "$debs_dir/${p}"_*_amd64.deb >/dev/null 2>&1 || missing_debs+=("$p"); done
if [ "${#missing_debs[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || { say "$debs_dir lacks ${missing_debs[*]} (.deb, amd64) and there is no apt-get to download them"; exit 1; }
  say "downloading ${missing_debs[*]} into $debs_dir (apt-get download, amd64)"
  mkdir -p "$debs_dir" /tmp/amd64/partial
  apt_o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${apt_o[@]}" update >/dev/null
  (cd "$debs_dir" && apt-get "${apt_o[@]}" download "${missing_debs[@]}" >/dev/null) || { say "apt-get download failed"; exit 1; }
fi
command -v dpkg-deb >/dev/null 2>&1 || { say "dpkg-deb is needed to unpack the Vulkan loader .debs"; exit 1; }
vk="$tree/vulkan-loader"
mkdir -p "$vk" "$work/debs"
for p in "${vk_debs[@]}"; do
  deb="$(ls "$debs_dir/${p}"_*_amd64.deb | sort -V | tail -n 1)"
  dpkg-deb -x "$deb" "$work/debs"
  echo "$p $(dpkg-deb -f "$deb" Version) $(basename "$deb")" >> "$vk/PACKAGES.txt"
done
find "$work/debs" -path '*/lib/x86_64-linux-gnu/*' -name 'lib*.so.*' \( -type f -o -type l \) -exec cp -a {} "$vk/" \;
rm -rf "$work/debs"
[ -e "$vk/libvulkan.so.1" ] || { say "no libvulkan.so.1 in the libvulkan1 .deb"; exit 1; }
say "vulkan-loader: $(ls "$vk" | grep -c '\.so\.') files, $(du -sk "$vk" | cut -f1) KiB: $(grep -c . "$vk/PACKAGES.txt") packages ($(awk '$1 == "libvulkan1" {print "libvulkan1 " $2}' "$vk/PACKAGES.txt"))"
say "tree is $(du -sm "$tree" | cut -f1) MiB unpacked"

if [ "$verify" = 1 ]; then
  # A copy outside the checkout, so nothing resolves from this repository's node_modules.
  probe="$work/verify/llama-gpu-check"
  mkdir -p "$work/verify" && cp -a "$tree" "$probe"
  say "running the bundle from $probe (CPU, tiny model)"
  if ! (cd "$probe" && LLAMA_GPU_CHECK_ALLOW_CPU=1 node llama-gpu-check.mjs --model-gb=0.02 --runs=1 --tokens=16 \
      --models-dir="$work/verify/models" >"$work/verify.log" 2>&1); then
    tail -n 30 "$work/verify.log" >&2
    say "the bundle did not run from a copy; not packing it"
    exit 1
  fi
  grep -E '^(result:|\| llama.gpu)' "$work/verify.log" >&2 || true
  rm -rf "$work/verify"
fi

say "packing with xz $xz_level (a few minutes)"
archive="$work/llama-gpu-check.tar.xz"
# Names sorted, but the CUDA package last: the CPU and Vulkan packages' libraries that differ from
# each other in a few bytes (libllama-common.so, libllama.*.so) then lie within xz's 64 MiB window
# instead of either side of the 152 MiB libggml-cuda.so.
(cd "$work" && find llama-gpu-check | LC_ALL=C sort | awk '/\/linux-x64-cuda(\/|$)/ {cuda[++n] = $0; next} {print} END {for (i = 1; i <= n; i++) print cuda[i]}') > "$work/files.txt"
tar -C "$work" --no-recursion --owner=0 --group=0 --numeric-owner -cf - -T "$work/files.txt" | xz "$xz_level" -T0 -c > "$archive"
total="$(stat -c %s "$archive")"
sha="$(sha256sum "$archive" | cut -d' ' -f1)"

rm -rf "$out"
mkdir -p "$out"
mib=$((1024 * 1024))
offset=0
n=0
while [ "$offset" -lt "$total" ]; do
  n=$((n + 1))
  size_mib=$([ "$n" = 1 ] && echo "$p1_mib" || echo "$part_mib")
  mkdir -p "$out/p$n"
  dd if="$archive" of="$out/p$n/llama-gpu-check.tar.xz.part$n" bs="$mib" skip=$((offset / mib)) count="$size_mib" status=none
  offset=$((offset + size_mib * mib))
done

manifest="$work/manifest.txt"
{
  echo "# llama-gpu-check bundle, built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "archive llama-gpu-check.tar.xz $total $sha"
  echo "parts $n"
  for i in $(seq 1 "$n"); do
    f="$out/p$i/llama-gpu-check.tar.xz.part$i"
    echo "part $i p$i/llama-gpu-check.tar.xz.part$i $(stat -c %s "$f") $(sha256sum "$f" | cut -d' ' -f1)"
  done
} > "$manifest"
for i in $(seq 1 "$n"); do cp "$manifest" "$out/p$i/manifest.txt"; done

say "archive $((total / mib)) MiB ($total bytes) in $n parts:"
for i in $(seq 1 "$n"); do
  say "  .gpu-llama/p$i  $(du -sb "$out/p$i" | cut -f1) bytes"
done
