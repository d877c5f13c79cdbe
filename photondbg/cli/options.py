"""Option types and options shared by several verbs."""

from __future__ import annotations

import math
import os

import click


class Seconds(click.ParamType):
    """A finite number of seconds above ``min`` (``nan`` and ``inf`` are not durations)."""

    name = "seconds"

    def __init__(self, min: float = 0.0, min_open: bool = True):
        self.min = min
        self.min_open = min_open

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        if number < self.min or (self.min_open and number == self.min):
            op = ">" if self.min_open else ">="
            self.fail(f"{value!r}: need a number of seconds {op} {self.min:g}", param, ctx)
        return number


def _set_build_dir(ctx, param, value):
    if value:
        os.environ["PHOTONDBG_BUILD"] = str(os.path.abspath(value))  # children build there too
    return value


build_dir_option = click.option(
    "--build-dir",
    type=click.Path(file_okay=False),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_set_build_dir,
    help="Build the firmware here [default: $PHOTONDBG_BUILD, else ~/.cache/photondbg/build].",
)


def default_probe(probe: str | None) -> str:
    """--probe, else $PHOTONDBG_PROBE, else the Particle Debugger (cmsis-dap)."""
    return probe or os.environ.get("PHOTONDBG_PROBE") or "cmsis-dap"
