"""Recorded stages: a method decorated with ``@stage("arg", ...)`` appends a :class:`Step` (name,
chosen arguments, start, duration, exception) to ``self.steps`` (labgrid's ``@step``)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from enum import Enum


@dataclass
class Step:
    name: str
    args: dict
    started: float  # seconds since the campaign began
    duration: float = 0.0
    error: str | None = None


def stage(*argnames: str):
    """Record a method call as a :class:`Step` (name, chosen args, duration, exception)."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            names = fn.__code__.co_varnames[1 : fn.__code__.co_argcount]
            bound = dict(zip(names, args), **kwargs)
            step = Step(
                fn.__name__, {k: _plain(bound[k]) for k in argnames if k in bound}, self._clock()
            )
            self.steps.append(step)
            t0 = time.monotonic()
            try:
                return fn(self, *args, **kwargs)
            except BaseException as e:
                step.error = f"{type(e).__name__}: {e}"
                raise
            finally:
                step.duration = time.monotonic() - t0

        return wrapper

    return deco


def _plain(v):
    return v.value if isinstance(v, Enum) else v
