#!/usr/bin/env bash
# The README's first command: set up, then run the main job on the embedded ClickHouse.
#
#   bash infra/quickstart.sh [PATH...] [--in-process]
#
# Creates .venv (Python >= 3.11) if missing, installs the project (quiet; again only when
# pyproject.toml changed), then runs `signals demo`: sample trajectories -> detectors -> ClickHouse
# (chdb://./data/clickhouse unless SIGNALS_CLICKHOUSE is set) -> a summary and a sample worth
# reviewing. Through the local Kafka broker when Java is available, else in-process.
# Environment: PYTHON (interpreter for the venv, default python3), SIGNALS_KAFKA, SIGNALS_CLICKHOUSE.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"

die() { echo "[quickstart] ERROR: $*" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (install Python >= 3.11 or set PYTHON)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python >= 3.11 needed, $PYTHON is $("$PYTHON" -V 2>&1)"
  echo "[quickstart] creating .venv with $("$PYTHON" -V 2>&1)"
  "$PYTHON" -m venv .venv
fi

STAMP=.venv/.signals-installed
if [[ ! -x .venv/bin/signals || ! -f $STAMP || pyproject.toml -nt $STAMP ]]; then
  echo "[quickstart] installing agent-signals into .venv (quiet)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e . || die "pip install -e . failed"
  touch "$STAMP"
fi

exec .venv/bin/signals demo "$@"
