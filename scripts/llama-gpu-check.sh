#!/usr/bin/env bash
# llama.cpp GPU check on the GPU machine (docs/llama-gpu-check.md), once every part of .gpu-llama/
# (scripts/prepare-llama-gpu-check.sh) has arrived: checks the parts against their manifest,
# reassembles and unpacks them under $TMPDIR (the working tree may be read-only), finds node
# (PATH if >= 20, else .gpu-check/node.xz), puts the CUDA 13 runtime and cuBLAS of the PyTorch
# venv's NVIDIA wheels and the driver's libraries on LD_LIBRARY_PATH, makes Vulkan available (the
# bundle's loader libraries the system lacks, linked into a folder on LD_LIBRARY_PATH; the NVIDIA
# ICD through VK_DRIVER_FILES where it lies outside the loader's search folders), and runs the
# bundled check, which lets the engine choose its backend (CUDA, else Vulkan, else the CPU).
# Usage: bash scripts/llama-gpu-check.sh [--parts] [--out=FILE] [check options, e.g. --model-gb=1.2
#        --threads=4 --tokens=128 --runs=3 --allow-cpu --force-cuda]
#   --parts  only say which parts are here, where the CUDA and Vulkan libraries are and whether
#            node is; exit 0
# Env: LLAMA_GPU_CHECK_PYTHON (default /opt/torch/.venv/bin/python3, else python3),
#      LLAMA_GPU_CHECK_DIR (unpack folder), GPU_CHECK_NODE (node binary), LLAMA_GPU_CHECK_VULKAN_ICD
#      (an ICD json to use), LLAMA_GPU_CHECK_NO_VULKAN_LOADER=1 (never link the bundled loader),
#      and the check's own.
# Exit codes: 0 pass, or the engine fell back from CUDA that cannot run here to Vulkan or the CPU
#             and generated (FALLBACK-VULKAN, FALLBACK-CPU); 1 not fully offloaded; 2 no NVML, no
#             CUDA, or CUDA kernels that cannot run on this GPU and generation aborted (the check
#             says why); 3 parts missing or damaged, no node, a step failed, the measuring process
#             died or ran past --deadline.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
parts_dir="$root/.gpu-llama"
node_dir="$root/.gpu-check"
tmp="${TMPDIR:-/tmp}"
say() { echo "llama-gpu-check: $*" >&2; }

status_only=0
out=""
args=()
for arg in "$@"; do
  case "$arg" in
    --parts) status_only=1 ;;
    --out=*) out="${arg#--out=}"; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done

# Fails before the check could run: says why, on stdout like the check, and in --out.
fail() {
  echo "llama.cpp GPU check: not run: $1"
  local reason="${1//\"/\'}"
  echo "LLAMA_GPU_CHECK_JSON {\"result\":\"incomplete\",\"exitCode\":3,\"notes\":[\"$reason\"]}"
  [ -n "$out" ] && echo "{\"result\": \"incomplete\", \"exitCode\": 3, \"notes\": [\"$reason\"]}" > "$out"
  exit 3
}

# --- the parts -------------------------------------------------------------------------------
manifest="$(ls "$parts_dir"/p*/manifest.txt 2>/dev/null | head -n 1)"
[ -n "$manifest" ] || fail "no part of .gpu-llama here (carry .gpu-llama/p1, .gpu-llama/p2, ... built by scripts/prepare-llama-gpu-check.sh)"
read -r _ archive_name archive_bytes archive_sha < <(grep '^archive ' "$manifest")
count="$(awk '/^parts /{print $2}' "$manifest")"
missing=()
damaged=()
present=()
while read -r _ i rel bytes sha; do
  f="$parts_dir/$rel"
  if [ ! -f "$f" ]; then
    missing+=("p$i")
  elif [ "$(stat -c %s "$f")" != "$bytes" ]; then
    damaged+=("p$i ($(stat -c %s "$f") bytes, expected $bytes)")
  else
    present+=("p$i ($((bytes / 1048576)) MiB)")
  fi
done < <(grep '^part ' "$manifest")
say "bundle: $(head -n 1 "$manifest" | sed 's/^# //'); $count parts; here: ${present[*]:-none}"
if [ "${#missing[@]}" -gt 0 ] || [ "${#damaged[@]}" -gt 0 ]; then
  [ "${#missing[@]}" -gt 0 ] && say "missing: ${missing[*]} (carry each as .gpu-llama/pN in a call of its own)"
  [ "${#damaged[@]}" -gt 0 ] && say "damaged: ${damaged[*]}"
fi

# --- CUDA 13 libraries: the NVIDIA wheels of the PyTorch venv, and the driver -----------------
python="${LLAMA_GPU_CHECK_PYTHON:-/opt/torch/.venv/bin/python3}"
[ -x "$python" ] || python="$(command -v python3 || true)"
nvidia_roots=()
if [ -n "$python" ]; then
  while IFS= read -r d; do [ -d "$d" ] && nvidia_roots+=("$d"); done < <("$python" -c \
    'import nvidia, os; [print(p) for p in list(nvidia.__path__)]' 2>/dev/null)
fi
if [ "${#nvidia_roots[@]}" -eq 0 ]; then
  # No importable `nvidia` package: look where pip puts it.
  while IFS= read -r d; do nvidia_roots+=("$d"); done < <(find /opt /usr/local/lib /usr/lib -maxdepth 6 -type d \
    -path '*-packages/nvidia' 2>/dev/null)
fi
lib_dirs=()
add_dir() {
  local d
  for d in ${lib_dirs[@]+"${lib_dirs[@]}"}; do [ "$d" = "$1" ] && return; done
  lib_dirs+=("$1")
}
for name in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
  f="$( [ "${#nvidia_roots[@]}" -gt 0 ] && find "${nvidia_roots[@]}" -name "$name" 2>/dev/null | head -n 1)"
  [ -n "$f" ] || f="$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n {print $NF; exit}')"
  if [ -n "$f" ]; then add_dir "$(dirname "$f")"; say "found $name in $(dirname "$f")"; else say "not found: $name"; fi
done
for name in libcuda.so.1 libnvidia-ml.so.1; do
  f="$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n && /x86-64/ {print $NF; exit}')"
  [ -n "$f" ] || f="$(find /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia /usr/lib/wsl -name "$name" 2>/dev/null | head -n 1)"
  if [ -n "$f" ]; then add_dir "$(dirname "$f")"; say "found $name in $(dirname "$f")"; else say "not found: $name (driver)"; fi
done
if [ "${#lib_dirs[@]}" -gt 0 ]; then
  joined="$(IFS=:; echo "${lib_dirs[*]}")"
  export LD_LIBRARY_PATH="$joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
say "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

# --- Vulkan: the loader (system's, else the bundle's) and the NVIDIA driver's ICD ----------------
# node-llama-cpp tries Vulkan only when it finds libvulkan.so.1 in LD_LIBRARY_PATH or the system
# library folders, and its Vulkan backend sees a GPU only when the loader finds a driver (ICD json).
sys_vulkan="$(ldconfig -p 2>/dev/null | grep -E '^\s*libvulkan\.so' || true)"
if [ -n "$sys_vulkan" ]; then say "ldconfig -p | grep libvulkan: $(echo "$sys_vulkan" | tr -s ' \t\n' ' ')"
else say "ldconfig -p | grep libvulkan: nothing (the bundle carries libvulkan.so.1 from Debian's libvulkan1)"
fi
vk_icd=""
for f in "${LLAMA_GPU_CHECK_VULKAN_ICD:-}" ${VK_DRIVER_FILES:+${VK_DRIVER_FILES//:/ }} ${VK_ICD_FILENAMES:+${VK_ICD_FILENAMES//:/ }} \
  /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/*.json \
  /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json \
  /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
  if [ -n "$f" ] && [ -f "$f" ]; then vk_icd="$f"; break; fi
done
if [ -n "$vk_icd" ]; then
  vk_icd_lib="$(sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$vk_icd" | head -n 1)"
  say "Vulkan ICD: $vk_icd (library_path ${vk_icd_lib:-?}, api_version $(sed -n 's/.*"api_version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$vk_icd" | head -n 1))"
  case "$vk_icd" in
    /usr/share/vulkan/*|/etc/vulkan/*|/usr/local/share/vulkan/*) ;; # the loader looks there itself
    *) export VK_DRIVER_FILES="$vk_icd" VK_ICD_FILENAMES="$vk_icd"; say "VK_DRIVER_FILES=$vk_icd (and VK_ICD_FILENAMES, for older loaders)" ;;
  esac
else
  others="$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')"
  say "no NVIDIA Vulkan ICD json (looked in /usr/local/nvidia/share/vulkan/icd.d, /usr/share/vulkan/icd.d, /etc/vulkan/icd.d; set LLAMA_GPU_CHECK_VULKAN_ICD): ${others:+the loader finds only }${others:-Vulkan will see no GPU}"
fi
egl_vendor=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$egl_vendor" ] && [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$egl_vendor"; fi

# After unpacking: links each of the bundle's loader libraries that the system lacks into one folder
# on LD_LIBRARY_PATH (the system's own win otherwise), then says what the ICD's library still lacks.
link_vulkan_loader() {
  local src="$1" dest="$2" f name linked=()
  [ -d "$src" ] || { say "the bundle has no vulkan-loader folder"; return; }
  if [ "${LLAMA_GPU_CHECK_NO_VULKAN_LOADER:-0}" = 1 ]; then say "LLAMA_GPU_CHECK_NO_VULKAN_LOADER=1: not linking the bundled Vulkan loader"; return; fi
  rm -rf "$dest" && mkdir -p "$dest"
  for f in "$src"/lib*.so.*; do
    name="$(basename "$f")"
    # soname links only (libX11.so.6, not libX11.so.6.4.0): what the dynamic linker asks for
    [[ "$name" =~ \.so\.[0-9]+$ ]] || continue
    ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n && /x86-64/ {found = 1} END {exit !found}' && continue
    local d on_path=0
    for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/$name" ] && on_path=1; done
    [ "$on_path" = 1 ] && continue
    ln -sf "$f" "$dest/$name" && linked+=("$name")
  done
  if [ "${#linked[@]}" -gt 0 ]; then
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$dest"
    say "linked from the bundle ($(awk '$1 == "libvulkan1" {print "libvulkan1 " $2}' "$src/PACKAGES.txt" 2>/dev/null)) into $dest: ${linked[*]}"
  else
    say "the system has every library of the bundle's vulkan-loader; none linked"
  fi
  if [ -n "${vk_icd_lib:-}" ] && command -v ldd >/dev/null 2>&1; then
    local lib="$vk_icd_lib"
    if [[ "$lib" != /* ]]; then
      local d
      lib=""
      for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/$vk_icd_lib" ] && { lib="$d/$vk_icd_lib"; break; }; done
      [ -n "$lib" ] || lib="$(ldconfig -p 2>/dev/null | awk -v n="$vk_icd_lib" '$1 == n && /x86-64/ {print $NF; exit}')"
    fi
    if [ -z "$lib" ]; then say "the ICD's library $vk_icd_lib is found nowhere (LD_LIBRARY_PATH, ldconfig)"
    elif ldd "$lib" 2>/dev/null | grep -q 'not found'; then say "$lib cannot find: $(ldd "$lib" | awk '/not found/ {print $1}' | tr '\n' ' ')"
    else say "the ICD's library $lib finds all it links"
    fi
  fi
}

# --- node --------------------------------------------------------------------------------------
node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' >/dev/null 2>&1; }
have_xz() { xz --version >/dev/null 2>&1; }
# xz -d from stdin to stdout, with xz or else Python's lzma module.
unxz_stream() {
  if have_xz; then xz -dc
  else "${python:-python3}" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)'
  fi
}
find_node() {
  if [ -n "${GPU_CHECK_NODE:-}" ]; then echo "$GPU_CHECK_NODE"; return 0; fi
  if command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then command -v node; return 0; fi
  local c
  for c in "$node_dir/node" "$tmp/fabric-gpu-check-node"; do
    if [ -x "$c" ] && node_ok "$c"; then echo "$c"; return 0; fi
  done
  [ -f "$node_dir/node.xz" ] || return 1
  c="$tmp/fabric-gpu-check-node"
  if unxz_stream < "$node_dir/node.xz" > "$c.part" && chmod +x "$c.part" && mv "$c.part" "$c" && node_ok "$c"; then echo "$c"; return 0; fi
  say "could not unpack a working node from $node_dir/node.xz into $c (xz or python3 needed)"
  return 1
}
node_bin="$(find_node)"
if [ -n "$node_bin" ]; then say "node $("$node_bin" --version) at $node_bin"
elif [ ! -f "$node_dir/node.xz" ]; then say "no node >= 20 on PATH and no .gpu-check/node.xz (carry .gpu-check)"
fi

if [ "$status_only" = 1 ]; then
  [ "${#missing[@]}" -eq 0 ] && [ "${#damaged[@]}" -eq 0 ] && say "all $count parts are here: run bash scripts/llama-gpu-check.sh"
  exit 0
fi
[ "${#missing[@]}" -eq 0 ] || fail "parts missing: ${missing[*]} of $count (carry each as .gpu-llama/pN)"
[ "${#damaged[@]}" -eq 0 ] || fail "parts damaged: ${damaged[*]}"
[ -n "$node_bin" ] || fail "no node >= 20: none on PATH, and none unpacked from .gpu-check/node.xz (carry .gpu-check, built by scripts/prepare-gpu-check.sh)"

# --- reassemble and unpack (once per bundle: a rerun on the same machine reuses it) ------------
unpack_root="${LLAMA_GPU_CHECK_DIR:-$tmp/fabric-llama-gpu-check}/${archive_sha:0:12}"
bundle="$unpack_root/llama-gpu-check"
if [ ! -f "$unpack_root/.complete" ]; then
  started=$SECONDS
  rm -rf "$unpack_root" && mkdir -p "$unpack_root" || fail "cannot create $unpack_root"
  part_files=()
  while read -r _ _ rel _ _; do part_files+=("$parts_dir/$rel"); done < <(grep '^part ' "$manifest")
  sha="$(cat "${part_files[@]}" | sha256sum | cut -d' ' -f1)"
  [ "$sha" = "$archive_sha" ] || fail "reassembled $archive_name has sha256 $sha, expected $archive_sha (rebuild and carry the parts again)"
  cat "${part_files[@]}" | unxz_stream | tar -C "$unpack_root" -xf - || fail "unpacking $archive_name failed"
  touch "$unpack_root/.complete"
  say "unpacked $((archive_bytes / 1048576)) MiB into $bundle in $((SECONDS - started)) s"
fi

link_vulkan_loader "$bundle/vulkan-loader" "$unpack_root/vulkan-lib"
say "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
for lib in linux-x64-cuda/bins/linux-x64-cuda/libggml-cuda.so linux-x64-vulkan/bins/linux-x64-vulkan/libggml-vulkan.so; do
  lib="$bundle/node_modules/@node-llama-cpp/$lib"
  if command -v ldd >/dev/null 2>&1 && ldd "$lib" 2>/dev/null | grep -q 'not found'; then
    say "$(basename "$lib") cannot find: $(ldd "$lib" | awk '/not found/ {print $1}' | tr '\n' ' ')"
  fi
done

# The prebuilt CUDA backend has machine code for sm_86/89/120/121 and PTX (ISA 9.1, CUDA 13.1) for
# sm_75/80/90: on a Hopper GPU (sm_90) a driver for CUDA 13.1 or newer compiles each kernel from PTX
# at its first launch and caches it here, so a rerun on the same machine starts warm; an older
# driver cannot (the check's "CUDA backend kernels on this GPU" row says which). Lazy module loading
# (the default since CUDA 12.2, set so it holds) keeps that to the first launch, so a load still
# succeeds and is measured where the kernels cannot run.
export CUDA_CACHE_PATH="${CUDA_CACHE_PATH:-$tmp/fabric-llama-gpu-check-cuda-cache}"
export CUDA_CACHE_MAXSIZE="${CUDA_CACHE_MAXSIZE:-4294967296}"
export CUDA_MODULE_LOADING="${CUDA_MODULE_LOADING:-LAZY}"
cd "$bundle" && exec "$node_bin" llama-gpu-check.mjs ${args[@]+"${args[@]}"}
