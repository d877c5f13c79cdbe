"""Where things live: the source tree (firmware/, gdb_scripts/), the build cache, the outputs.

- Firmware builds go to a cache directory, never into the source checkout by default:
  ``$PHOTONDBG_BUILD`` (or ``--build-dir``), else ``$XDG_CACHE_HOME/photondbg/build/<tree>``
  (``~/.cache/...``), where ``<tree>`` names the firmware sources built (two checkouts on one
  machine do not share object files).
- What a run produces (captures, campaign folders) goes under the current directory:
  ``./captures``, ``./photondbg-runs``.
"""

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
FIRMWARE = Path(os.environ.get("PHOTONDBG_FIRMWARE", ROOT / "firmware"))
GDB_SCRIPTS = ROOT / "gdb_scripts"
CAPTURES = Path("captures")  # relative: under the current directory
RUNS = Path("photondbg-runs")


def cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


def build_dir() -> Path:
    """Firmware build outputs: $PHOTONDBG_BUILD, else the XDG cache (one folder per source
    tree)."""
    env = os.environ.get("PHOTONDBG_BUILD")
    if env:
        return Path(env)
    tree = FIRMWARE.resolve()
    tag = hashlib.sha1(str(tree).encode()).hexdigest()[:10]
    return cache_home() / "photondbg" / "build" / f"{tree.parent.name or 'firmware'}-{tag}"
