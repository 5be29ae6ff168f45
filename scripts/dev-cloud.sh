#!/usr/bin/env bash
# AWS's services on this machine, to try a server's AWS set-up without an account
# (docs/operations/try-aws-locally.md): Ceph's S3 gateway (scripts/radosgw.sh), and in one
# background Node process (scripts/dev-cloud.mjs) the packages' loopback stand-ins, a KMS endpoint,
# OpenSSL's RFC 3161 TSA and, with --with-fargate, an ECS endpoint that runs the worker image's
# tasks under bubblewrap. They are test tools (each package's `/testing` export), not the product:
# nothing here is for production, and `cairn` has no command for it.
#
#   bash scripts/dev-cloud.sh up [--with-fargate]   starts them and prints a server config (YAML) that
#                                                   uses them; again while up: prints it again
#   bash scripts/dev-cloud.sh config                prints that config again
#   bash scripts/dev-cloud.sh env                   prints the AWS_* variables a server needs (eval it)
#   bash scripts/dev-cloud.sh status                says what runs; exit 0 when up, 1 when not
#   bash scripts/dev-cloud.sh down                  stops what up started (the S3 gateway only when up
#                                                   started it) and removes the state folder
#
# --with-fargate also builds the cairn-worker image when it is missing or out of date
# (packages/fargate/image/build-image.sh: about a minute and a half, root, mmdebstrap, umoci, skopeo
# from `bash scripts/setup.sh --for-tests`, and the Debian mirror); without it the config's
# executor is the local one (bubblewrap).
# State (pid, endpoints, ports, key ids, the config): $CAIRN_DEV_CLOUD_DIR, by default .dev-cloud in
# the checkout (mode 0700). Needs `bash scripts/setup.sh --for-dev-cloud` first (openssl, Ceph, the build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"
dir="${CAIRN_DEV_CLOUD_DIR:-$root/.dev-cloud}"
rgw_port="${CAIRN_RADOSGW_PORT:-7480}"

log() { printf '[dev-cloud] %s\n' "$*" >&2; }

# The pid of the running dev-cloud process, if there is one (not another process that got its pid).
running_pid() {
  [ -f "$dir/pid" ] || return 1
  local pid
  pid="$(cat "$dir/pid")"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'scripts/dev-cloud.mjs' || return 1
  echo "$pid"
}

# Up means the process runs and has written its state (every endpoint answered).
is_up() { running_pid >/dev/null && [ -f "$dir/state.json" ]; }

gateway_answers() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$rgw_port/" 2>/dev/null; }

stop_process() {
  local pid
  pid="$(running_pid)" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  stop_process
  if [ -f "$dir/radosgw-started-here" ]; then
    log "stopping the S3 gateway that up started"
    bash scripts/radosgw.sh stop
  fi
  rm -rf "$dir"
  log "down"
}

up() {
  local with_fargate=''
  for option in "$@"; do
    case "$option" in
      --with-fargate) with_fargate=--with-fargate ;;
      *) log "unknown option $option: bash scripts/dev-cloud.sh up [--with-fargate]"; exit 2 ;;
    esac
  done
  if is_up; then
    if [ -n "$with_fargate" ] && ! grep -q '"ecs"' "$dir/state.json"; then
      log "up already, without the ECS endpoint: bash scripts/dev-cloud.sh down, then up --with-fargate"
      exit 1
    fi
    log "up already (pid $(running_pid)); its config:"
    cat "$dir/cairn.config.yaml"
    return
  fi
  # What a process that died left behind (its buckets stay on the gateway, as the tests' do).
  if [ -d "$dir" ]; then
    stop_process
    rm -rf "$dir"
  fi

  local testing=(packages/kms/dist/testing/index.js packages/timestamp/dist/testing/index.js packages/s3/dist/testing/index.js)
  [ -z "$with_fargate" ] || testing+=(packages/fargate/dist/testing/index.js packages/fargate/dist/cairn-worker.js)
  for file in "${testing[@]}"; do
    [ -f "$file" ] || { log "$file is missing: run bash scripts/setup.sh --for-dev-cloud (it builds it)"; exit 1; }
  done
  command -v openssl >/dev/null || { log "openssl is missing (the TSA): run bash scripts/setup.sh --for-dev-cloud as root"; exit 1; }

  mkdir -p "$dir"
  chmod 0700 "$dir"
  local started_gateway=''
  gateway_answers || started_gateway=yes
  bash scripts/radosgw.sh start >/dev/null
  # Only a gateway that up started is stopped by down: one that answered already (the tests',
  # another checkout's) goes on serving them.
  if [ -n "$started_gateway" ]; then touch "$dir/radosgw-started-here"; else log "using the S3 gateway that already answers on 127.0.0.1:$rgw_port"; fi
  if [ -n "$with_fargate" ]; then
    log "building the worker image (a no-op when it is up to date)"
    bash packages/fargate/image/build-image.sh >&2
  fi

  # A session of its own: a Ctrl-C in this terminal, or the end of the shell that ran up, leaves it running.
  setsid node scripts/dev-cloud.mjs "$dir" $with_fargate >"$dir/dev-cloud.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 300); do
    [ -f "$dir/state.json" ] && break
    running_pid >/dev/null || break
    sleep 0.2
  done
  if ! is_up; then
    log "the endpoints did not start; $dir/dev-cloud.log says:"
    tail -n 20 "$dir/dev-cloud.log" >&2
    down
    exit 1
  fi
  # Said where the reader looks: the docs' port 7600 was taken, so the config names another.
  local note
  note="$(node -p 'JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).server.note ?? ""' "$dir/state.json")"
  [ -z "$note" ] || log "$note"
  log "up (pid $(running_pid)); the server config (also in $dir/cairn.config.yaml), then eval \"\$(bash scripts/dev-cloud.sh env)\" before cairn serve:"
  cat "$dir/cairn.config.yaml"
}

need_up() { is_up || { log "not up: bash scripts/dev-cloud.sh up"; exit 1; }; }

status() {
  if ! is_up; then
    echo "down"
    exit 1
  fi
  node -e '
    const state = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const lines = [
      `up since ${state.startedAt}, pid ${state.pid}`,
      `S3 gateway  ${state.s3.endpoint}  buckets ${state.s3.storageBucket} (storage), ${state.s3.anchorBucket} (Object Lock anchor)`,
      `KMS         ${state.kms.url}  keys ${state.kms.signingKeyId} (signer, ECC_NIST_P256), ${state.kms.encryptionKeyId} (cipher, SYMMETRIC_DEFAULT)`,
      `TSA         ${state.tsa.url}  certificate ${state.tsa.certificate}`,
      `server      the config serves on 127.0.0.1:${state.server.port}${state.server.note ? " (7600 was taken when up ran)" : ""}`,
      state.ecs ? `ECS         ${state.ecs.url}  cluster ${state.ecs.cluster}, task definition ${state.ecs.taskDefinition}` : "ECS         not started (up --with-fargate)",
    ];
    console.log(lines.join("\n"));
  ' "$dir/state.json"
  gateway_answers || { log "but the S3 gateway on 127.0.0.1:$rgw_port does not answer: bash scripts/radosgw.sh start"; exit 1; }
}

command="${1:-}"
[ $# -eq 0 ] || shift
case "$command" in
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  config) need_up && cat "$dir/cairn.config.yaml" ;;
  env) need_up && cat "$dir/aws.env" ;;
  *)
    log "usage: bash scripts/dev-cloud.sh up [--with-fargate] | config | env | status | down"
    exit 2
    ;;
esac
