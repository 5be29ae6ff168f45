#!/usr/bin/env bash
# The README's test command: sets the machine up for the tests (idempotent), then runs every check CI relies on
# and ends with one plain line "N passed, N failed" (exit status non-zero on any failure).
# Its budget is 35 minutes in a fresh clone on the 2-core machine: it records how long each step
# took (.test-durations.json) and checks the total last (tests/test-command-budget.test.ts).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
SECONDS=0
# Each step's name and seconds, in order, for .test-durations.json.
durations=()

# V8's code cache for every Node process of the command: the builds, the checks, vitest's workers
# and the thousands of processes the tests start (`cairn` from source, servers, supervisors), most
# of them loading the same few hundred modules. Compiled once, each later start reads the cache:
# measured here, a file of CLI tests spent 24 s of CPU instead of 39 s. The supervisors already use
# this folder (packages/local/src/supervisor/start-supervisor.ts).
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${TMPDIR:-/tmp}/node-compile-cache}"
# The cairn-worker image is built with what Debian's mirror serves even where packages.lock pins
# other versions (Debian published a security update since): the tests that run the image still
# run, and the end of this command warns with the difference. A release build (build-image.sh
# alone) refuses the drift, as its tests show.
export CAIRN_IMAGE_LOCK_DRIFT="${CAIRN_IMAGE_LOCK_DRIFT:-report}"

# Everything the tests need (Debian's test servers, Chromium, the image tools) and a full build
# with declarations: the demo's set-up (no option) installs and builds only what the demo needs.
bash scripts/setup.sh --for-tests || { echo "0 passed, 1 failed"; exit 1; }
durations+=(setup "$SECONDS")
source scripts/env.sh
# The machine-wide extra CA bundle costs ~60 ms per Node start; tests reach only loopback.
unset NODE_EXTRA_CA_CERTS

checks_failed=0
step() { step_since "$SECONDS" "$@"; }
# A step whose time started earlier (one that ran in the background): its start, label and command.
step_since() {
  local step_started=$1 label=$2; shift 2
  printf '\n== %s\n' "$label"
  if ! "$@"; then
    printf '!! %s failed\n' "$label"
    checks_failed=$((checks_failed + 1))
  fi
  durations+=("${label%% (*}" "$((SECONDS - step_started))")
}

# Steps started in the background (`beside`): their output is held and printed, each as its own
# step with its time counted from its start, when `collect_beside` waits for them.
beside_pids=()
beside_outputs=()
beside_started=()
beside_labels=()
beside() {
  local label=$1; shift
  local output
  output="$(mktemp)"
  "$@" >"$output" 2>&1 &
  beside_pids+=("$!")
  beside_outputs+=("$output")
  beside_started+=("$SECONDS")
  beside_labels+=("$label")
}
beside_result() {
  local status=0
  wait "${beside_pids[$1]}" || status=$?
  cat "${beside_outputs[$1]}"
  rm -f "${beside_outputs[$1]}"
  return "$status"
}
collect_beside() {
  local index
  for index in "${!beside_pids[@]}"; do step_since "${beside_started[index]}" "${beside_labels[index]}" beside_result "$index"; done
  beside_pids=() beside_outputs=() beside_started=() beside_labels=()
}

worker_image() {
  node --input-type=module -e "await (await import('./packages/fargate/src/testing/worker-bundle.test-support.ts')).default()" &&
    bash packages/fargate/image/build-image.sh "${CAIRN_WORKER_BUNDLE:-packages/fargate/dist/cairn-worker.js}"
}

# prettier and tsc are one process each, one core each: the format check runs beside the type-check
# (in the last fresh-clone run, 22 s and 51 s one after the other); the S3 server's start (11 s,
# mostly Ceph's daemons starting) beside both.
beside "format (prettier --check, beside the type-check: pnpm format fixes it)" pnpm exec prettier --check --log-level warn .
# The tests' S3 server (a one-node Ceph cluster with radosgw on loopback), started once for every project.
beside "S3 test server (scripts/radosgw.sh, beside the checks)" bash scripts/radosgw.sh start
# publint and attw read the packages setup built (dist, npm pack); tsc -b writes only .tsbuild: the
# package lint takes the core the format check leaves once it is done, beside the type-check.
beside "package lint (publint, attw, beside the type-check)" node scripts/lint-packages.mjs
# The worker bundle exactly as the tests' global setups bundle it, then the cairn-worker image the
# Fargate tests run, from that bundle: the global setups then find both up to date, so the image
# (about a minute cold, mostly mmdebstrap unpacking packages) is built once per run, not once here
# and again in vitest; beside the type-check too, which leaves the second core idle once the format
# check and the package lint are done.
beside "worker image (the bundle as the tests make it, then packages/fargate/image/build-image.sh, beside the checks)" worker_image
step "type-check (tsc -b)" pnpm exec tsc -b
# A few rules that catch real bugs (floating and misused promises, awaiting what is not a promise,
# unused code), with the types: .oxlintrc.json.
step "lint (oxlint --type-aware: pnpm lint)" pnpm lint
collect_beside
# The tests' PostgreSQL (a throwaway Debian PostgreSQL cluster on a unix socket and loopback port),
# for the engine's PostgreSQL state store; started once for every project.
step "PostgreSQL test server (scripts/postgres.sh)" bash scripts/postgres.sh start
results="$root/.vitest-results.json"
# One fixed seed for property tests, so a red build reproduces (vitest.property-seed.ts).
export CAIRN_PROPERTY_SEED="${CAIRN_PROPERTY_SEED:-20261122}"
rm -f "$results"
# As many test files at once as there are cores: vitest's default (one fewer) is one on CI's
# 2-core machine, and most files spend their time waiting on processes, servers and sleeps. Measured
# here: @cairn/local, @cairn/s3 and @cairn/audit took 304 s one file at a time, 183 s two at a time.
# The budget check runs after this run, once its duration is known (below).
step "tests (vitest)" pnpm exec vitest run --maxWorkers="$(nproc)" --exclude '**/test-command-budget.test.ts' --reporter=default --reporter=json --outputFile.json="$results"

durations_file="$root/.test-durations.json"
{
  # "load": what scripts/test-under-load.sh ran beside this command ("" on a quiet machine).
  printf '{\n  "startedAt": "%s",\n  "seconds": %d,\n  "cpus": %d,\n  "load": "%s",\n  "steps": [' "$started_at" "$SECONDS" "$(nproc)" "${CAIRN_TEST_LOAD:-}"
  separator=''
  for ((index = 0; index < ${#durations[@]}; index += 2)); do
    printf '%s\n    { "name": "%s", "seconds": %d }' "$separator" "${durations[index]}" "${durations[index + 1]}"
    separator=','
  done
  printf '\n  ]\n}\n'
} >"$durations_file"
printf '\n== the test command took %d s so far (each step in %s)\n' "$SECONDS" "$durations_file"
step "test command budget (tests/test-command-budget.test.ts)" \
  env CAIRN_TEST_COMMAND_RECORD="$durations_file" pnpm exec vitest run tests/test-command-budget.test.ts

drift="${CAIRN_WORKER_IMAGE_DIR:-$root/.tools/worker-image}/packages-drift.diff"
if [ -s "$drift" ]; then
  printf '\n== warning: the cairn-worker image was built with other Debian packages than packages/fargate/image/packages.lock pins (- pinned, + served):\n'
  cat "$drift"
  printf 'Review it, then: CAIRN_IMAGE_UPDATE_LOCK=1 bash packages/fargate/image/build-image.sh, and commit the lock.\n'
fi

node scripts/summarize-tests.mjs "$results" "$checks_failed"
