#!/usr/bin/env bash
# The README's main command: set up for the demo (idempotent: installs only what the demo needs and
# builds only the server and what it imports, without declarations), then `cairn demo` from the
# built server — a server in a fresh directory, the sample run through its API, its evidence verified.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
unset NODE_EXTRA_CA_CERTS
exec node apps/server/dist/cli.js demo "$@"
