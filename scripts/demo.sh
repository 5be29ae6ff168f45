#!/usr/bin/env bash
# The README's main command: set up (idempotent: installs and builds), then `cairn demo` from the
# built server — a server in a fresh directory, the sample run through its API, its evidence verified.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
unset NODE_EXTRA_CA_CERTS
exec node apps/server/dist/cli.js demo "$@"
