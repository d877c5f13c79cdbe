"""What several verbs share: the firmware choices (from :mod:`photondbg.firmware`, the one list),
the ``--hold MIN:MAX`` parser, the run's output directory, and the run log."""

from __future__ import annotations

import time
from pathlib import Path

import click

from photondbg import firmware
from photondbg.errors import UsageError

VARIANTS = firmware.VARIANTS
APPS = tuple(firmware.APPS)
CUT_CHOICES = ("mixed", "down", "uplink")


def variant_option(default: str | None = "none", **kw):
    """``--variant`` of the simulated firmware (none = the bug; clients = PR #1250; all)."""
    kw.setdefault("help", "none = the bug; clients = PR #1250 fix; all = both fixes.")
    return click.option(
        "--variant",
        type=click.Choice(VARIANTS),
        default=default,
        show_default=default is not None,
        **kw,
    )


def app_option(**kw):
    """``--app``: which test app is built and served."""
    return click.option(
        "--app", type=click.Choice(APPS), default="multi-server", show_default=True, **kw
    )


def hold_range(ctx, param, value):
    """click callback: ``MIN:MAX`` seconds -> (min, max)."""
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not MIN:MAX in seconds (e.g. 1:3)") from None
    if not 0 < lo <= hi:
        raise click.BadParameter(f"{value!r}: need 0 < MIN <= MAX")
    return lo, hi


def out_dir(out: str | None, what: str) -> Path:
    """The run's output folder, created: ``--out`` or ./photondbg-runs/<time>-<what> (under the
    current directory, never inside the source checkout). The run log goes there too."""
    if out:
        path = Path(out)
    else:
        from photondbg.paths import RUNS

        path = RUNS / f"{time.strftime('%Y%m%d-%H%M%S')}-{what}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create --out {path}: {e.strerror}") from None
    return path
