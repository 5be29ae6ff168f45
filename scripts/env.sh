# Sourced by the scripts (and by you): puts the project-local Node, pnpm and `cairn` (when
# present) first on PATH.
_cairn_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for _cairn_bin in "$_cairn_root/.tools/node/node_modules/node/bin" "$_cairn_root/.tools/pnpm/node_modules/.bin" "$_cairn_root/.tools/bin"; do
  case ":$PATH:" in *":$_cairn_bin:"*) ;; *) [ -d "$_cairn_bin" ] && PATH="$_cairn_bin:$PATH" ;; esac
done
export PATH
unset _cairn_root _cairn_bin
