#!/usr/bin/env bash
# Builds the cairn-server OCI image without a Docker engine, reproducibly, ON the cairn-worker image
# (as a Dockerfile's FROM): its first layer is the worker image's layer, byte for byte (Debian
# bookworm minbase + ca-certificates + git, Node, user 1000: built once, stored once by a
# registry), and its second layer adds
#   bubblewrap, slirp4netns (+ their libraries; pinned by packages.lock, installed by dpkg)
#   + the server deployed with its production dependencies (pnpm deploy) at /opt/cairn/server
#   + `cairn` on PATH + /var/lib/cairn, the state volume, owned by user 1000.
#
# Usage: build-image.sh [TREE]     (or CAIRN_SERVER_TREE=TREE build-image.sh)
#   TREE   the server deployed with its production dependencies, as
#          `pnpm --filter @cairn/server deploy --prod --legacy TREE` writes it
#          (default: deploy it now from this checkout's built packages)
# Environment:
#   CAIRN_SERVER_IMAGE_DIR   where the result goes (default: .tools/server-image)
#   CAIRN_WORKER_IMAGE_DIR   the worker image it is built on (default: .tools/worker-image; built
#                            first by packages/fargate/image/build-image.sh, a no-op when up to date)
#   CAIRN_IMAGE_UPDATE_LOCK  1: write the packages apt resolved to packages.lock instead of failing
#   CAIRN_IMAGE_FORCE        1: rebuild even when the inputs have not changed
#
# Result (CAIRN_SERVER_IMAGE_DIR): oci/ (the layout, tag cairn-server), tree/ (the server as it is in
# the image, for a second assembly), image.json, inspect.json, inputs.sha256 (README.md in this folder).
# Needs root, umoci, skopeo, dpkg, apt-get (with Debian bookworm's indexes: apt-get update), a kernel
# with overlayfs, pnpm (scripts/setup.sh --for-tests installs them).
set -euo pipefail

# One function, read by bash before it runs: a checkout while it builds cannot change it.
main() {

image_folder="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$image_folder/../../.." && pwd)"
worker_folder="$root/packages/fargate/image"
tag=cairn-server
log_prefix=server-image
# shellcheck source=../../../packages/fargate/image/oci-image.lib.sh
source "$worker_folder/oci-image.lib.sh"
# The worker image's pins: SOURCE_DATE_EPOCH above all (every date in both images).
# shellcheck source=../../../packages/fargate/image/pins.env
source "$worker_folder/pins.env"
export SOURCE_DATE_EPOCH

output="${CAIRN_SERVER_IMAGE_DIR:-$root/.tools/server-image}"
base="${CAIRN_WORKER_IMAGE_DIR:-$root/.tools/worker-image}"
tree="${1:-${CAIRN_SERVER_TREE:-}}"
lock="$image_folder/packages.lock"
# What the server needs beyond the worker image: bubblewrap for the local executor's sandboxes,
# slirp4netns for a sandbox's own network.
packages=(bubblewrap slirp4netns)

[ "$(id -u)" = 0 ] || fail "run as root (the image's files belong to root and to uid 1000, and dpkg installs into it): sudo bash $0"
for tool in umoci skopeo dpkg apt-get mount tar node sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed: run bash scripts/setup.sh --for-tests"
done
[ -f "$lock" ] || [ "${CAIRN_IMAGE_UPDATE_LOCK:-}" = 1 ] ||
  fail "$lock is missing: run once with CAIRN_IMAGE_UPDATE_LOCK=1 to record the packages apt resolves"

started=$SECONDS
# Each step's line says when it started, so a slow build shows where its time went.
step() { log "$* (at $((SECONDS - started)) s)"; }
# The base: the worker image (its own build is a no-op when its inputs did not change).
# CAIRN_IMAGE_FORCE rebuilds this image only: the worker image it stands on is rebuilt only when its own inputs change.
CAIRN_IMAGE_FORCE= bash "$worker_folder/build-image.sh" >/dev/null || fail "the cairn-worker image it is built on could not be built (its error above)"
base_digest="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).digest)' "$base/image.json")"

mkdir -p "$(dirname "$output")"
work="$(mktemp -d "$(dirname "$output")/.server-image-build.XXXXXX")"
merged="$work/merged"
cleanup() {
  mountpoint -q "$merged" && umount "$merged"
  rm -rf "$work"
}
trap cleanup EXIT

# What the server tree is made from, hashed before anything is deployed, so that a build whose
# inputs did not change returns in seconds: the lockfile, the packages' manifests and everything they
# built (dist/, the dashboard included), or the tree given.
if [ -z "$tree" ]; then
  sources_hash="$(
    cd "$root" && {
      sha256sum pnpm-lock.yaml apps/server/package.json packages/*/package.json
      find apps/server/dist packages/*/dist -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
  )"
else
  [ -f "$tree/dist/cli.js" ] && [ -d "$tree/node_modules" ] ||
    fail "$tree is not a deployed server (no dist/cli.js or node_modules): pnpm --filter @cairn/server deploy --prod --legacy DIR"
  sources_hash="$(tar -C "$tree" --sort=name --format=pax --pax-option=delete=atime,delete=ctime --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | sha256sum | cut -d' ' -f1)"
fi
inputs_hash="$(
  {
    sha256sum "$image_folder/build-image.sh" "$worker_folder/oci-image.lib.sh" | cut -d' ' -f1
    [ -f "$lock" ] && sha256sum "$lock" | cut -d' ' -f1
    printf '%s\n%s\n' "$base_digest" "$sources_hash"
  } | sha256sum | cut -d' ' -f1
)"
if [ "${CAIRN_IMAGE_FORCE:-}" != 1 ] && [ -f "$output/inputs.sha256" ] && [ -f "$output/image.json" ] &&
  [ "$(cat "$output/inputs.sha256")" = "$inputs_hash" ] && [ -d "$output/tree" ] && [ -d "$output/oci" ]; then
  log "up to date (inputs $inputs_hash); CAIRN_IMAGE_FORCE=1 rebuilds"
  print_digest_and_size "$output/image.json"
  exit 0
fi

if [ -z "$tree" ]; then
  step "the server and its production dependencies: pnpm deploy"
  command -v pnpm >/dev/null 2>&1 || fail "pnpm is not on PATH: source scripts/env.sh, or pass a deployed server as TREE"
  [ -f "$root/apps/server/dist/cli.js" ] || fail "apps/server/dist/cli.js is missing: build the packages first (bash scripts/setup.sh --for-tests, or pnpm -r build)"
  # pnpm 10's legacy deploy resolves the server's dependencies again, and now and then stops for good
  # half-way (no CPU, no file or socket open: seen in two of about ten fresh-clone CI runs, at "resolved 1035"; it takes
  # 8-30 s otherwise). Each try gets 180 s, and a stuck one is killed and tried again from scratch.
  # It resolves against the registry when pnpm's metadata cache lacks a package (a fresh machine),
  # over TLS with the Node on PATH. The test command unsets NODE_EXTRA_CA_CERTS, and behind a TLS
  # proxy with its own CA (the project's machines) every request then failed its certificate check
  # and pnpm retried until the timeout below: the system's CA store holds that CA, which Node 22.15+
  # and 24 read with --use-system-ca (as the worker image's npm does).
  deploy_node_options="${NODE_OPTIONS:-}"
  if node --use-system-ca -e '' 2>/dev/null; then deploy_node_options="$deploy_node_options --use-system-ca"; fi
  for try in 1 2 3; do
    rm -rf "$work/deploy"
    status=0
    (cd "$root" && NODE_OPTIONS="$deploy_node_options" timeout --kill-after=10 180 pnpm --filter @cairn/server deploy --prod --legacy --prefer-offline "$work/deploy" >"$work/deploy.log" 2>&1) || status=$?
    [ "$status" = 0 ] && break
    [ "$status" = 124 ] || [ "$status" = 137 ] || { tail -n 20 "$work/deploy.log" >&2; fail "pnpm deploy of @cairn/server failed (its output above)"; }
    [ "$try" = 3 ] && { tail -n 5 "$work/deploy.log" >&2; fail "pnpm deploy of @cairn/server was stuck three times, 180 s each (its last output above): run it by hand to see where"; }
    log "pnpm deploy was stuck for 180 s (try $try of 3; last: $(tail -n 1 "$work/deploy.log")): trying again"
  done
  tree="$work/deploy"
fi
# A copy, file by file: pnpm deploy hard-links files to its store and to the workspace packages' own
# files (an edit in the checkout would change the deployed tree in place), and pruning below must not
# change a folder the caller gave.
cp -a "$tree" "$work/tree"
rm -rf "$work/deploy"
tree="$work/tree"
# Every Cairn package the server imports, built: a package rebuilt while pnpm copied it (another
# build in this checkout) leaves its dist/ out, and the server would fail at its first import.
for package in "$tree"/node_modules/.pnpm/@cairn+*/node_modules/@cairn/*/; do
  [ -f "$package/dist/index.js" ] || fail "the deployed ${package#"$tree/"} has no dist/index.js: build it (pnpm -r build) and build the image again, with no other build running in this checkout"
done

# What the server does not read at run time: source maps, declarations, the Cairn packages' and the
# server's TypeScript sources (published for the @cairn/source condition, which only tests use),
# better-sqlite3's C sources and its prebuilt bindings for other platforms (it loads
# prebuilds/linux-x64.node), and pnpm's record of the deploy (it holds the deploy's date).
step "pruning the deployed tree"
find "$tree" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete
rm -rf "$tree/src" "$tree"/node_modules/.pnpm/@cairn+*/node_modules/@cairn/*/src
rm -f "$tree/node_modules/.modules.yaml" "$tree"/node_modules/.pnpm-workspace-state*.json
for sqlite in "$tree"/node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3; do
  [ -d "$sqlite" ] || continue
  rm -rf "$sqlite/deps" "$sqlite/src" "$sqlite/build"
  find "$sqlite/prebuilds" -type f ! -name linux-x64.node -delete
done
# Files root-owned and world-readable, none writable but by root, whatever the umask of the deploy.
chown -R 0:0 "$tree"
chmod -R u+rwX,go+rX,go-w "$tree"

# The packages apt installs on the worker image's package database, from the host's apt indexes
# (Debian bookworm, the same archive the worker image is made from), compared with the lock.
step "package versions: apt-get --simulate on the worker image's package database"
apt_on_base=(-o "Dir::State::status=$base/rootfs/var/lib/dpkg/status" -o APT::Install-Recommends=false -o APT::Sandbox::User=root)
apt-get -s "${apt_on_base[@]}" install "${packages[@]}" >"$work/simulate.log" 2>&1 ||
  { tail -n 20 "$work/simulate.log" >&2; fail "apt could not resolve ${packages[*]} on the worker image (run apt-get update?)"; }
sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*/\1 \3/p' "$work/simulate.log" | LC_ALL=C sort -u >"$work/packages.txt"
frozen_mirror='point apt at a snapshot.debian.org mirror of the pinned date (apt-get update) and build again'
if [ "${CAIRN_IMAGE_UPDATE_LOCK:-}" = 1 ]; then
  cp "$work/packages.txt" "$lock"
  log "wrote $lock ($(wc -l <"$lock") packages): commit it"
  # The lock is an input: the hash must name the lock the image was built with.
  inputs_hash="$(printf '%s\n%s\n' "$inputs_hash" "$(sha256sum "$lock" | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)"
else
  require_locked_packages "$work/packages.txt" "$lock" "$frozen_mirror"
fi

# The .deb files, kept between builds; apt-get download checks each against the signed indexes.
deb_cache="$root/.tools/cache/server-image-debs"
mkdir -p "$deb_cache"
debs=()
while read -r name version; do
  file="${name}_${version//:/%3a}_"
  if ! compgen -G "$deb_cache/$file*.deb" >/dev/null; then
    (cd "$deb_cache" && apt-get download -q -o APT::Sandbox::User=root "$name=$version" >/dev/null) || fail "apt-get download $name=$version failed"
  fi
  debs+=("$(compgen -G "$deb_cache/$file*.deb" | head -n 1)")
done <"$lock"

# The second layer is what an overlay over the worker image's root filesystem collects: dpkg
# installs the packages there (maintainer scripts chrooted), then the server is copied in.
step "second layer: dpkg ${packages[*]}, the server, the state volume"
mkdir -p "$work/upper" "$work/overlay-work" "$merged"
mount -t overlay overlay -o "lowerdir=$base/rootfs,upperdir=$work/upper,workdir=$work/overlay-work" "$merged"
dpkg --root="$merged" --force-unsafe-io -i "${debs[@]}" >"$work/dpkg.log" 2>&1 ||
  { tail -n 20 "$work/dpkg.log" >&2; fail "dpkg could not install the packages into the image"; }
dpkg-query --admindir="$merged/var/lib/dpkg" -W -f='${Package} ${Version}\n' "${packages[@]}" >/dev/null ||
  fail "dpkg did not record ${packages[*]} as installed"
install -d -m 0755 "$merged/opt/cairn/server"
cp -a "$tree/." "$merged/opt/cairn/server/"
ln -s /opt/cairn/server/dist/cli.js "$merged/usr/local/bin/cairn"
# Passable by others (0711): the local executor's sandboxes run as uids of their own and must pass
# through every folder above their workspaces (cairn serve refuses to start otherwise).
install -d -m 0711 -o 1000 -g 1000 "$merged/var/lib/cairn"
umount "$merged"
# The server as the layer holds it: names, content, modes, links (not dates, which the layer clamps).
tree_hash="$(tar -C "$work/upper/opt/cairn/server" --sort=name --format=pax --pax-option=delete=atime,delete=ctime --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | sha256sum | cut -d' ' -f1)"

# dpkg's logs and backups, and ldconfig's cache of file dates: nothing a container reads, and
# different on every build (mmdebstrap removes the same from the first layer). Removed from the
# upper folder itself, so the overlay records no deletion.
rm -rf "$work/upper/var/log/dpkg.log" "$work/upper/var/log/alternatives.log" "$work/upper/var/cache/ldconfig/aux-cache" \
  "$work/upper"/var/lib/dpkg/*-old "$work/upper"/var/cache/debconf/*-old "$work/upper/var/lib/dpkg/lock" \
  "$work/upper/var/lib/dpkg/lock-frontend" "$work/upper/var/lib/dpkg/triggers/Lock"
# A whiteout (a character device) would be a deletion from the worker's layer: none is expected.
whiteouts="$(find "$work/upper" -type c | head -n 5)"
[ -z "$whiteouts" ] || fail "the second layer would delete files of the first: $whiteouts"

# One tar as mmdebstrap writes the first layer: sorted names, dates clamped to SOURCE_DATE_EPOCH,
# numeric owners, no access or change times, no extended attributes (the overlay's own).
tar -C "$work/upper" --sort=name --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner -cf "$work/layer.tar" .

step "OCI image: umoci, on the worker image's layout"
layout="$work/oci"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
cp -a "$base/oci" "$layout"
umoci raw add-layer --image "$layout:cairn-worker" --tag "$tag" \
  --history.created "$created" --history.created_by 'apps/server/image/build-image.sh' \
  "$work/layer.tar"
umoci rm --image "$layout:cairn-worker"
umoci config --image "$layout:$tag" --no-history \
  --created "$created" \
  --author 'Cairn' \
  --config.user 1000:1000 \
  --config.workingdir /var/lib/cairn \
  --clear=config.env \
  --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --config.env 'HOME=/var/lib/cairn' \
  --config.env 'NODE_ENV=production' \
  --config.env 'CAIRN_HOST=0.0.0.0' \
  --config.env 'CAIRN_PORT=8080' \
  --clear=config.entrypoint \
  --config.entrypoint cairn \
  --clear=config.cmd \
  --config.cmd=--config --config.cmd=/var/lib/cairn/cairn.config.yaml --config.cmd=serve \
  --clear=config.volume \
  --config.volume /var/lib/cairn \
  --clear=config.exposedports \
  --config.exposedports 8080/tcp \
  --clear=config.labels \
  --config.label "org.opencontainers.image.title=cairn-server" \
  --config.label "org.opencontainers.image.description=The Cairn server: cairn --config /var/lib/cairn/cairn.config.yaml serve (the state volume /var/lib/cairn; cairn init /var/lib/cairn writes the config)" \
  --config.label "org.opencontainers.image.base.digest=$base_digest" \
  --config.label "org.opencontainers.image.created=$created" \
  --config.label "dev.cairn.healthcheck=GET http://127.0.0.1:8080/readyz" \
  --manifest.annotation "org.opencontainers.image.created=$created"
umoci gc --layout "$layout"

step "reading it back: skopeo inspect"
skopeo inspect "oci:$layout:$tag" >"$work/inspect.json"
skopeo inspect --config "oci:$layout:$tag" >"$work/image-config.json"
image_record "$layout" "$work/image-config.json" "$inputs_hash" "$tree_hash" >"$work/image.json"
printf '%s\n' "$inputs_hash" >"$work/inputs.sha256"

replace_result "$output" "$work/oci" "$work/tree" "$work/image.json" "$work/inspect.json" "$work/inputs.sha256"
log "built in $((SECONDS - started)) s"
print_digest_and_size "$output/image.json"
}

main "$@"; exit $?
