"""The bench, described once: `photondbg.toml` (the project) or `~/.config/photondbg/config.toml`.

    # photondbg.toml
    [bench]
    probe = "stlink"                       # --probe      (capture-fault, campaign, verify-fix,
    serial = "/dev/ttyACM0"                #              flash, openocd)
    host = "192.168.1.50"                  # --host       (campaign, verify-fix)
    port = 7123                            # --port
    netcut_cmd = "ssh pi@relay ./relay.sh off"
    netrestore_cmd = "ssh pi@relay ./relay.sh on"
    reset_cmd = "particle usb reset"

    [capture-fault]                        # any verb's own options, by their long name
    timeout = 600

Looked up: ``$PHOTONDBG_CONFIG`` if set (one file), else ``photondbg.toml`` in the current
directory or the nearest parent that has one, over ``$XDG_CONFIG_HOME/photondbg/config.toml``
(``~/.config/...``). Values become click's defaults (``default_map``), so an option given on the
command line always wins; an option neither on the command line nor in a file keeps its own
default (which may read an environment variable such as ``$PHOTONDBG_PROBE``).
"""

from __future__ import annotations

import os
from pathlib import Path

import tomllib

from photondbg.errors import UsageError

PROJECT_FILE = "photondbg.toml"
#: [bench] keys: the bench's facts, given to every verb that has an option of that name
BENCH_KEYS = (
    "probe",
    "serial",
    "host",
    "port",
    "baud",
    "netcut_cmd",
    "netrestore_cmd",
    "reset_cmd",
)


def user_file() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "photondbg" / "config.toml"


def project_file(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def files() -> list[Path]:
    """The configuration files in force, weakest first."""
    explicit = os.environ.get("PHOTONDBG_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"PHOTONDBG_CONFIG names {path}, which is not a file")
        return [path]
    found = [p for p in (user_file(), project_file()) if p is not None and p.is_file()]
    return found


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    bench = data.get("bench", {})
    if not isinstance(bench, dict):
        raise UsageError(f"{path}: [bench] must be a table")
    unknown = sorted(set(bench) - set(BENCH_KEYS))
    if unknown:
        raise UsageError(
            f"{path}: unknown [bench] key {unknown[0]!r} (known: {', '.join(BENCH_KEYS)})"
        )
    for verb, table in data.items():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: {verb!r} must be a table ([{verb}])")
    return data


def load() -> dict:
    """The merged configuration: {"bench": {...}, "<verb>": {...}}; stronger files win."""
    merged: dict[str, dict] = {}
    for path in files():
        for section, table in _read(path).items():
            merged.setdefault(section, {}).update(table)
    return merged


def defaults_for(command, verb: str, config: dict) -> dict:
    """click ``default_map`` entries for ``command`` (a click.Command named ``verb``): the
    [bench] keys it has options for, then its own [verb] table (unknown names: UsageError)."""
    names = {p.name for p in getattr(command, "params", [])}
    out = {k: v for k, v in config.get("bench", {}).items() if k in names}
    own = {k.replace("-", "_"): v for k, v in config.get(verb, {}).items()}
    unknown = sorted(set(own) - names)
    if unknown and not hasattr(command, "commands"):
        raise UsageError(f"configuration: {verb} has no option --{unknown[0].replace('_', '-')}")
    out.update(own)
    return out
