# shellcheck shell=bash
# apt_get ARGS...: apt-get that waits (bounded) for another apt to finish instead of failing at once
# with "Could not get lock /var/lib/dpkg/lock-frontend" (unattended-upgrades on a fresh machine,
# a second setup beside this one). Sourced by scripts/setup.sh and scripts/postgres.sh, which define
# `log`. apt-get waits for dpkg's locks itself with DPkg::Lock::Timeout; the lock `apt-get update`
# takes on the package lists it does not wait for (apt 2.6), so a lock refusal is retried here
# until the same bound. Settings (for tests): APT_LOCK_SECONDS (300), APT_LOCK_POLL_SECONDS (5).
apt_lock_seconds="${APT_LOCK_SECONDS:-300}"
apt_lock_poll_seconds="${APT_LOCK_POLL_SECONDS:-5}"

apt_get() {
  local deadline=$((SECONDS + apt_lock_seconds)) output status waiting=0 held
  while true; do
    status=0
    # apt's download user cannot write to /tmp on these machines (mode 711): give it /var/tmp.
    output="$(TMPDIR=/var/tmp DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$apt_lock_seconds" "$@" 2>&1)" || status=$?
    [ "$status" -ne 0 ] || return 0
    held="$(grep -m1 'Could not get lock' <<<"$output" || true)"
    if [ -z "$held" ]; then
      printf '%s\n' "$output" >&2
      return "$status"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s\n' "$output" >&2
      log "another apt still holds its lock after ${apt_lock_seconds} s (${held#E: }): let it finish (see \`ps -C apt,apt-get,dpkg,unattended-upgr\`), then run this script again"
      return "$status"
    fi
    [ "$waiting" = 1 ] || log "another apt is running (${held#E: }): waiting for it to finish, up to ${apt_lock_seconds} s"
    waiting=1
    sleep "$apt_lock_poll_seconds"
  done
}
