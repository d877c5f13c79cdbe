"""Logging: one ``photondbg`` logger tree. The terminal gets warnings (``-v``: info, ``-vv``:
debug) on stderr; every run directory (a capture, a campaign, verify-fix) gets the whole debug
log in ``photondbg.log`` while the run lasts (:func:`run_log`)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

ROOT = "photondbg"
LOG_NAME = "photondbg.log"
FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%H:%M:%S"

_console: logging.Handler | None = None


def setup(verbosity: int = 0) -> None:
    """stderr at WARNING (0), INFO (1) or DEBUG (2+); safe to call again."""
    global _console
    root = logging.getLogger(ROOT)
    root.setLevel(logging.DEBUG)
    root.propagate = False
    if _console is None:
        _console = logging.StreamHandler()
        _console.setFormatter(logging.Formatter("photondbg: %(levelname)s: %(message)s"))
        root.addHandler(_console)
    _console.setLevel(
        logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    )


@contextlib.contextmanager
def run_log(directory: Path | str):
    """Everything logged meanwhile also goes to ``directory/photondbg.log`` (appended)."""
    root = logging.getLogger(ROOT)
    root.setLevel(logging.DEBUG)
    path = Path(directory) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
