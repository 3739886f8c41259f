# Source this file (`. scripts/use-node.sh`) to run the project on the Node.js it is developed on,
# the version in .node-version (24 LTS), when the machine's `node` is older: that version comes
# from the npm registry (scripts/node-from-registry.sh), so a machine that reaches only the
# registry can install it, and goes first on PATH. The machine's npm then runs on it too.
_fabric_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_fabric_want="$(tr -d '[:space:]' < "$_fabric_root/.node-version")"
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt "${_fabric_want%%.*}" ]; then
  _fabric_bin="$("$_fabric_root/scripts/node-from-registry.sh" "$_fabric_want")" || { return 1 2>/dev/null || exit 1; }
  export PATH="$_fabric_bin:$PATH"
fi
unset _fabric_root _fabric_want _fabric_bin
