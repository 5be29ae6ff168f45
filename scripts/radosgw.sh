#!/usr/bin/env bash
# A real S3 server for the tests: Ceph's RADOS Gateway from Debian, as a one-node cluster on
# loopback (a monitor, one in-memory OSD, radosgw). No npm emulator enforces conditional writes
# or Object Lock; radosgw does (shared/notes/TOOLCHAIN.md).
#
#   bash scripts/radosgw.sh start   starts it unless it already answers; prints the connection file
#                                   (another checkout's, on the same port with the test user, is shared)
#   bash scripts/radosgw.sh stop    stops it and removes its folder (a shared one is left running)
#
# The connection (endpoint, region, keys) is written as JSON to $CAIRN_RADOSGW_DIR/connection.json
# (default .tools/radosgw). Tests read it through @cairn/s3's test support; they never skip when
# it is missing, they fail naming this script. Started once per test run, not per test: each test
# makes buckets of its own.
set -Eeuo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${CAIRN_RADOSGW_DIR:-$root/.tools/radosgw}"
mon_port="${CAIRN_RADOSGW_MON_PORT:-6789}"
rgw_port="${CAIRN_RADOSGW_PORT:-7480}"
conf="$dir/ceph.conf"
connection="$dir/connection.json"
access_key=cairn-test-access-key
secret_key=cairn-test-secret-key-not-for-production
# The SSE-KMS key radosgw's `testing` backend holds (a test key by design: never used outside tests).
kms_key_id=cairn-test-kms-key
kms_key_base64=$(printf 'cairn radosgw test sse-kms key!!' | base64)

log() { printf '[radosgw] %s\n' "$*" >&2; }

# A start that fails says which command failed and shows the daemons' last words, which its retry
# would otherwise remove with the folder.
on_error() {
  local status=$? line=$1
  log "failed (exit $status) at line $line: $BASH_COMMAND"
  for file in "$dir/log/daemons.stderr" "$dir"/log/*.log; do
    [ -s "$file" ] || continue
    log "last lines of $file:"
    tail -n 12 "$file" >&2
  done
}

answers() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$rgw_port/" 2>/dev/null; }

# Whether the S3 server on the port knows the test user (a signed ListBuckets it accepts; curl
# 7.88 signs the payload's hash only when given it: that of the empty body).
knows_test_user() {
  curl -fsS -o /dev/null --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' "http://127.0.0.1:$rgw_port/" 2>/dev/null
}

write_connection() {
  cat >"$connection" <<EOF
{
  "endpoint": "http://127.0.0.1:$rgw_port",
  "region": "us-east-1",
  "accessKeyId": "$access_key",
  "secretAccessKey": "$secret_key",
  "kmsKeyId": "$kms_key_id"
}
EOF
}

# Whether something listens on a loopback TCP port.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  local pids=()
  for name in client.rgw.a osd.0 mon.a; do
    local pid_file="$dir/run/$name.pid"
    [ -f "$pid_file" ] && pids+=("$(cat "$pid_file")")
  done
  pids+=($(pgrep -f -- "-c $conf" || true))
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    # A monitor still holding its port would answer the next cluster's OSD with the wrong fsid.
    for _ in $(seq 1 50); do
      kill -0 "${pids[@]}" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

start() {
  # Vitest projects may each ask at once: one starts it, the others wait and find it answering.
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
  if [ -f "$connection" ] && answers; then
    echo "$connection"
    return
  fi
  # A cold start of the daemons on a busy machine fails now and then (seen once in CI, in about 40
  # starts): one retry from a clean folder. Each attempt is its own process, so `set -e` holds in it.
  bash "${BASH_SOURCE[0]}" start-unlocked && return
  log "the first start failed (above); trying once more from a clean folder"
  bash "${BASH_SOURCE[0]}" start-unlocked
}

# Runs a command up to five times, a second apart, until it succeeds.
retry() {
  local attempt
  for attempt in 1 2 3 4 5; do
    "$@" && return 0
    log "attempt $attempt of: $* failed"
    sleep 1
  done
  return 1
}

# One attempt; the caller holds the lock.
start_unlocked() {
  trap 'on_error $LINENO' ERR
  for program in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl; do
    command -v "$program" >/dev/null || {
      log "$program is missing: install it with TMPDIR=/var/tmp apt-get install -y ceph-mon ceph-osd radosgw curl (scripts/setup.sh --for-tests or --for-dev-cloud does, as root)"
      exit 1
    }
  done
  stop
  if answers; then
    # Another checkout's test server (a CI clone beside a work tree) answers with the same test
    # user: share it, as every test makes buckets of its own.
    if knows_test_user; then
      mkdir -p "$dir"
      write_connection
      log "sharing the S3 test server that already answers on 127.0.0.1:$rgw_port (connection: $connection)"
      echo "$connection"
      return
    fi
    log "port $rgw_port on 127.0.0.1 is taken by another program: set CAIRN_RADOSGW_PORT to a free port"
    exit 1
  fi
  if port_taken "$mon_port"; then
    log "port $mon_port on 127.0.0.1 is taken (another checkout's Ceph monitor whose radosgw is down, or another program): stop it (bash <that checkout>/scripts/radosgw.sh stop), or set CAIRN_RADOSGW_MON_PORT to a free port"
    exit 1
  fi
  mkdir -p "$dir"/{run,log,mon,osd}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms bind ipv6 = false
public network = 127.0.0.0/8
osd objectstore = memstore
memstore device bytes = 4294967296
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd max object name len = 460
osd max object namespace len = 64
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon data = $dir/mon/\$name
osd data = $dir/osd/\$name
keyring = $dir/keyring
[client.rgw.a]
# tcp_nodelay: without it the gateway sends an answer's headers and its body as two writes, and
# Nagle holds the body until the client's delayed ACK (40 ms on Linux): every GET on a reused
# connection took ~45 ms instead of ~3 (measured with curl and the SDK), which S3 servers in
# production do not cost. Benches and tests would otherwise measure that stall, not Cairn.
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = $kms_key_id=$kms_key_base64
rgw crypt require ssl = false
rgw enable usage log = false
EOF
  : >"$dir/keyring"
  # The v1 protocol on the chosen port, as `mon host` says: for a port other than 6789, `--add`
  # would register a v2 address the v1 clients below never reach.
  monmaptool --create --addv a "[v1:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a 2>>"$dir/log/daemons.stderr" 9>&-
  # A client that speaks to the new monitor before it has the monitor's map sends the zero fsid and is
  # refused ("wrong fsid", EPERM); Ceph's clients do not retry that, so these two steps are retried.
  local osd_id
  osd_id=$(retry ceph -c "$conf" --connect-timeout 60 osd create)
  mkdir -p "$dir/osd/osd.$osd_id"
  ceph-osd -c "$conf" -i "$osd_id" --mkfs >/dev/null 2>&1
  retry ceph-osd -c "$conf" -i "$osd_id" 2>>"$dir/log/daemons.stderr" 9>&-
  radosgw -c "$conf" -n client.rgw.a 2>>"$dir/log/daemons.stderr" 9>&-
  for _ in $(seq 1 120); do
    answers && break
    sleep 0.5
  done
  answers || { log "radosgw did not answer on 127.0.0.1:$rgw_port; its log: $dir/log/client.rgw.a.log"; exit 1; }
  radosgw-admin -c "$conf" --admin-socket= user create --uid=cairn-test --display-name="Cairn tests" \
    --access-key="$access_key" --secret-key="$secret_key" >/dev/null
  write_connection
  log "radosgw answers on http://127.0.0.1:$rgw_port (connection: $connection)"
  echo "$connection"
}

case "${1:-start}" in
  start) start ;;
  start-unlocked) start_unlocked ;;
  stop) stop ;;
  *) log "usage: $0 start|stop"; exit 2 ;;
esac
