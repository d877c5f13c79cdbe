"""Where things live: the source tree (firmware/, gdb_scripts/) and the build cache."""

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
FIRMWARE = Path(os.environ.get("PHOTONDBG_FIRMWARE", ROOT / "firmware"))
GDB_SCRIPTS = ROOT / "gdb_scripts"


def build_dir() -> Path:
    """Firmware build outputs; PHOTONDBG_BUILD overrides (tests point it at a temp dir)."""
    return Path(os.environ.get("PHOTONDBG_BUILD", ROOT / "build"))
