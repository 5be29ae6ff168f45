#!/usr/bin/env bash
# The README's main command: set up (idempotent), then run the demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
unset NODE_EXTRA_CA_CERTS
exec node scripts/demo.mjs "$@"
