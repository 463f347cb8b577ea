#!/usr/bin/env bash
# Run the test suite in the project's environment (the active venv, else .venv/).
#   ./scripts/test.sh                 all tests (slow ones included; GPU ones skip without CUDA)
#   ./scripts/test.sh -m "not slow"   the quick ones
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if [[ -n "${VIRTUAL_ENV:-}" ]]; then py="$VIRTUAL_ENV/bin/python"; else py="$repo/.venv/bin/python"; fi
if [[ ! -x "$py" ]]; then
  echo "no environment found: run ./scripts/setup.sh first" >&2
  exit 1
fi
exec "$py" -m pytest "$@"
