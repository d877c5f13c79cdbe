#!/usr/bin/env bash
# Set up everything photondbg needs on a Debian (bookworm) machine, as root. Idempotent:
# what is already installed is skipped, so a second run takes seconds.
#   apt: ARM toolchain + newlib, QEMU, gdb-multiarch, OpenOCD, dfu-util, udev, node/npm,
#        chromium (the tests render the HTML report headless)
#   npm: particle-cli@3.40.0 (+ execa@5, its undeclared dependency) under .tools/particle
#   venv: .venv with photondbg installed editable, with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in arm-none-eabi-gcc:gcc-arm-none-eabi qemu-system-arm:qemu-system-arm \
            gdb-multiarch:gdb-multiarch openocd:openocd dfu-util:dfu-util udevadm:udev \
            npm:npm chromium:chromium; do
  prog=${pair%%:*}; pkg=${pair#*:}
  command -v "$prog" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# newlib + libstdc++ for the firmware, the venv module for Python
[ -f /usr/lib/arm-none-eabi/include/stdlib.h ] || need_apt+=(libnewlib-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/include/c++ ] || need_apt+=(libstdc++-arm-none-eabi-newlib)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v git >/dev/null 2>&1 || need_apt+=(git)
"${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# particle-cli: 3.40.0 is the newest release that resolves from our npm registry; execa@5 is
# a dependency it forgets to declare (without it `flash` and `serial` die at start).
if [ ! -x .tools/particle/node_modules/.bin/particle ]; then
  echo "bootstrap: npm install particle-cli@3.40.0 execa@5"
  mkdir -p .tools/particle
  npm install --silent --no-audit --no-fund --prefix .tools/particle particle-cli@3.40.0 execa@5 \
    >/dev/null 2>&1 || echo "bootstrap: warning: particle-cli install failed (only the real-board path needs it)"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import photondbg, pygdbmi, pytest, hypothesis" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "bootstrap: pip install -e .[test]"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[test]"
  touch .venv/.installed
fi
echo "bootstrap: ready"
