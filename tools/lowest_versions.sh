#!/usr/bin/env bash
# The lowest-versions tier: install the lowest version of every direct dependency that pyproject.toml
# allows (uv's --resolution lowest-direct; indirect dependencies resolve to their newest) into
# .venv-lowest and run the tests that depend on those versions: the unit suite, the ClickHouse tests
# (chDB through clickhouse-connect) and, when SIGNALS_KAFKA names a broker, a worker and a replay test.
# A floor in pyproject.toml is true when this passes. .ci/run calls it after the main suite.
#
# Not run here: tests/test_static_checks.py (ruff and mypy read the types of the installed
# libraries, so their verdict belongs to the main environment, not to the runtime floors).
#
#   bash tools/lowest_versions.sh          # needs .venv (with uv, from the dev extra)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec </dev/null

say() { echo "[lowest] $*"; }
UV=.venv/bin/uv
[[ -x "$UV" ]] || { echo "[lowest] ERROR: $UV missing; run: .venv/bin/python -m pip install -e '.[dev]'" >&2; exit 1; }

rm -rf .venv-lowest
"$UV" venv -q -p .venv/bin/python .venv-lowest
# The embedded engine at the ClickHouse version the compose file ships (chdb-core X.Y.0 embeds
# ClickHouse X.Y), so the server we ship is the engine this tier tests; the main suite tests the newest.
engine=$(grep -oE 'clickhouse/clickhouse-server:[0-9]+\.[0-9]+' infra/docker-compose.yml | head -1 | cut -d: -f2)
[[ -n "$engine" ]] || { echo "[lowest] ERROR: no clickhouse/clickhouse-server:X.Y image in infra/docker-compose.yml" >&2; exit 1; }
say "installing the lowest allowed direct dependencies (uv pip install --resolution lowest-direct -e '.[dev]'), engine chdb-core==$engine.0"
"$UV" pip install -q --python .venv-lowest/bin/python --resolution lowest-direct -e '.[dev]' "chdb-core==$engine.0"
"$UV" pip list --python .venv-lowest/bin/python 2>/dev/null \
  | grep -i -E '^(msgspec|pyahocorasick|faust-streaming|mode-streaming|aiokafka|clickhouse-connect|chdb|rocksdict|prometheus-client|rich|uvloop|chdb-core|numpy|matplotlib|pytest|hypothesis) ' \
  | sed 's/^/[lowest]   /'

tests=(tests/unit
       tests/integration/test_clickhouse_cli.py tests/integration/test_clickhouse_cohort.py
       tests/integration/test_clickhouse_sampling.py tests/integration/test_clickhouse_sink.py
       tests/integration/test_same_records.py)
if [[ -n "${SIGNALS_KAFKA:-}" ]]; then
  tests+=(tests/integration/test_stream_records.py tests/integration/test_replay.py)
fi
say "running: .venv-lowest/bin/python -m pytest -q -p no:cacheprovider ${tests[*]}"
.venv-lowest/bin/python -m pytest -q -p no:cacheprovider "${tests[@]}"
