#!/usr/bin/env bash
# Lint and type-check photondbg (configuration in pyproject.toml: [tool.ruff], [tool.mypy]).
# Run from the repository root after `bash scripts/bootstrap.sh` (ruff and mypy come with the
# test extras). Exit status non-zero when either finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
status=0
"$PY" -m ruff check photondbg tests benchmarks gdb_scripts || status=1
"$PY" -m mypy photondbg || status=1
exit $status
