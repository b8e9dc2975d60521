#!/usr/bin/env bash
# One entry point that sets everything up on a fresh machine, then runs a job.
#   bash tools/dff.sh demo   # main job on the embedded synthetic default (no dataset download)
#   bash tools/dff.sh test   # the test suite (what .ci/run calls)
#   bash tools/dff.sh python ARGS...   # any command inside the project's environment
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py=$(bash "$here/tools/setup_env.sh" | tail -n 1)
cd "$here"
job="${1:-}"
[ $# -gt 0 ] && shift
case "$job" in
  demo)
    exec "$py" tools/demo_main.py "$@" ;;
  test)
    "$py" -m ruff check .
    "$py" -m ruff format --check .
    exec "$py" -m pytest -q -n 2 --dist loadfile "$@" ;;
  python)
    exec "$py" "$@" ;;
  *)
    echo "usage: bash tools/dff.sh {demo|test|python ARGS...}" >&2; exit 2 ;;
esac
