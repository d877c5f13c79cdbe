"""What several verbs share: the firmware choices (from :mod:`photondbg.firmware`, the one list),
the ``--hold MIN:MAX`` parser, the campaign options (``--cycles``, ``--seed``, ``--hold``,
``--cut``, ``--period``, ``--timeout``, ``--port``, ``--json``, ``--out``, ``--resume``), the
run's output directory, and the run log."""

from __future__ import annotations

import time
from pathlib import Path

import click

from photondbg import firmware
from photondbg.cli.options import Seconds
from photondbg.errors import UsageError

VARIANTS = firmware.VARIANTS
APPS = tuple(firmware.APPS)
CUT_CHOICES = ("mixed", "down", "uplink")


def variant_option(default: str | None = "none", name: str = "--variant", **kw):
    """``--variant`` of the simulated firmware (none = the bug; clients = PR #1250; all); with
    ``name``, another option naming a variant (``--baseline``, ``--candidate``)."""
    kw.setdefault("help", "none = the bug; clients = PR #1250 fix; all = both fixes.")
    return click.option(
        name,
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


def count_option(name: str, default: int | None = None, **kw):
    """A whole number >= 1 (``--cycles``, ``--max-cycles``, ``--jobs``)."""
    return click.option(
        name,
        type=click.IntRange(min=1),
        default=default,
        show_default=True if default is not None else None,
        **kw,
    )


def cycles_option(default: int | None = 5, help: str = "WiFi cuts to run."):
    """``--cycles``: how many WiFi cuts the campaign runs."""
    return count_option("--cycles", default, help=help)


def seconds_option(name: str, min: float, default: float | None = None, **kw):
    """A number of seconds >= ``min`` (``--timeout``, ``--period``, ``--seconds``)."""
    return click.option(
        name,
        type=Seconds(min=min, min_open=False),
        default=default,
        show_default=True if default is not None else None,
        **kw,
    )


def timeout_option():
    """``--timeout``: stop starting cycles after this many seconds."""
    return seconds_option("--timeout", 1, help="Stop starting cycles after this many seconds.")


def period_option(default: float, help: str):
    """``--period``: seconds between the tester's requests."""
    return seconds_option("--period", 0.05, default, help=help)


def seed_option(help: str | None = None):
    """``--seed`` of the campaign's schedule."""
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


def hold_option(default: str):
    """``--hold MIN:MAX`` seconds each cut is held; ``default`` says what applies without it."""
    return click.option(
        "--hold",
        callback=hold_range,
        metavar="MIN:MAX",
        help=f"Seconds each cut is held [default: {default}].",
    )


def cut_option(help: str | None = None):
    """``--cut``: which kind of WiFi cut (down, uplink, or a seeded mix)."""
    return click.option(
        "--cut", type=click.Choice(CUT_CHOICES), default="mixed", show_default=True, help=help
    )


def port_option():
    """``--port`` the simulated board's app is served on."""
    return click.option(
        "--port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Serve the app on this 127.0.0.1 port [default: a free one].",
    )


def json_option(
    help: str = "Print one JSON summary as the last stdout line (progress goes to stderr).",
):
    """``--json`` (as ``as_json``): the result as one JSON line on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def out_option(help: str):
    """``--out``: the run's output directory (see :func:`out_dir`)."""
    return click.option("--out", type=click.Path(file_okay=False), default=None, help=help)


def campaign_out_option(log: str):
    """``--out`` of a campaign; ``log`` names the log beside serial.log (bridge.log or
    openocd.log)."""
    return out_option(
        f"Directory for serial.log, {log}, campaign.json, cycles.jsonl "
        "[default: ./photondbg-runs/...]."
    )


def resume_option(help: str):
    """``--resume DIR``: continue the interrupted run in DIR (its cycles.jsonl)."""
    return click.option(
        "--resume",
        type=click.Path(file_okay=False, exists=True),
        default=None,
        metavar="DIR",
        help=help,
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
