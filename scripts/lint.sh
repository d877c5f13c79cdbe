#!/usr/bin/env bash
# Lint, format check and type check (configuration in pyproject.toml: [tool.ruff], [tool.mypy]).
# Run from the repository root after `bash scripts/bootstrap.sh` (ruff and mypy come with the
# test extras). Exit status non-zero when any of them finds something; `ruff format` fixes the
# formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
status=0
"$PY" -m ruff check photondbg tests benchmarks gdb_scripts || status=1
"$PY" -m ruff format --check photondbg tests benchmarks gdb_scripts || status=1
"$PY" -m mypy photondbg || status=1
exit $status
