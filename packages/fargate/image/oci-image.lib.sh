# The machinery every Cairn image build shares (sourced, not run): packages/fargate/image/build-image.sh
# (cairn-worker) and apps/server/image/build-image.sh (cairn-server, built on the worker image's layer).
# Each build sets `log_prefix` (e.g. build-image) before calling these. Every build hashes this file into
# its inputs: a change here rebuilds both images.

log() { printf '[%s] %s\n' "$log_prefix" "$*" >&2; }
fail() {
  printf '[%s] error: %s\n' "$log_prefix" "$*" >&2
  exit 1
}

# Fails, showing the difference, unless $1 (one "package version" a line, sorted) is what the lock $2
# pins. $3: how to build from a frozen archive instead (said after the usual remedy).
# The packages resolved or installed ($1) must be the ones the lock ($2) pins. Refused otherwise,
# naming the remedies ($3: the build's own); with CAIRN_IMAGE_LOCK_DRIFT=report the difference goes
# to the file $4 and a warning instead, and the build goes on with what the mirror serves.
require_locked_packages() {
  cmp -s "$1" "$2" && return 0
  diff -u "$2" "$1" >&2 || true
  local why="the mirror serves other package versions than $2 pins (diff above: - pinned, + served). Debian replaced them (a point release or a security update): review the diff, then run with CAIRN_IMAGE_UPDATE_LOCK=1 and commit ${2##*/}, or $3"
  if [ "${CAIRN_IMAGE_LOCK_DRIFT:-}" = report ] && [ -n "${4:-}" ]; then
    diff -u "$2" "$1" >"$4" || true
    log "warning: $why. CAIRN_IMAGE_LOCK_DRIFT=report: building with the served versions (the difference: ${4##*/} beside the image)"
    return 0
  fi
  fail "$why"
}

# umoci's runtime config ($1) takes HOME from /etc/passwd and adds TERM with a terminal: a container
# runtime (ECS, Docker, podman) starts the entrypoint with exactly the image's Env ($2, the image config
# skopeo read back) and no terminal.
match_runtime_config_to_image() {
  node - "$1" "$2" <<'SCRIPT'
const { readFileSync, writeFileSync } = require('node:fs');
const [runtimePath, configPath] = process.argv.slice(2);
const runtime = JSON.parse(readFileSync(runtimePath, 'utf8'));
runtime.process.env = JSON.parse(readFileSync(configPath, 'utf8')).config.Env;
runtime.process.terminal = false;
writeFileSync(runtimePath, `${JSON.stringify(runtime, null, 2)}\n`);
SCRIPT
}

# Prints image.json: the manifest digest of the layout $1's first image, its compressed size, layers,
# entrypoint, user, environment and working directory (from the image config $2), the inputs hash $3,
# and $4 (the bundle's sha256; the server's deployed tree for the server image).
image_record() {
  local manifest_digest
  manifest_digest="$(node -e 'const index = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(index.manifests[0].digest)' "$1/index.json")"
  node - "$1" "$manifest_digest" "$2" "$3" "$4" <<'SCRIPT'
const { readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');
const [layout, digest, configPath, inputs, bundle] = process.argv.slice(2);
const blob = (d) => join(layout, 'blobs', ...d.split(':'));
const manifest = JSON.parse(readFileSync(blob(digest), 'utf8'));
const compressed = statSync(blob(manifest.config.digest)).size + manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
const config = JSON.parse(readFileSync(configPath, 'utf8')).config;
const image = {
  digest,
  size: compressed,
  layers: manifest.layers.map((layer) => layer.digest),
  entrypoint: config.Entrypoint,
  user: config.User,
  env: config.Env,
  workingDir: config.WorkingDir,
  bundle,
  inputs,
};
console.log(JSON.stringify(image, null, 2));
SCRIPT
}

# Prints the digest and size a build ends with (and a no-op build prints again) from image.json $1.
print_digest_and_size() {
  node -e 'const i = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`digest ${i.digest}\nsize ${i.size}`)' "$1"
}

# Replaces the result folder $1 with the finished parts in $2 (each a path to move into it), only once
# the new result is whole.
replace_result() {
  local output=$1
  shift
  rm -rf "$output.previous"
  [ -e "$output" ] && mv "$output" "$output.previous"
  mkdir "$output"
  mv "$@" "$output/"
  rm -rf "$output.previous"
}
