"""What makes a capture self-contained and reproducible: the ``reproduce`` and ``timeline``
sections of report.json (added beside the DESIGN §5.1 fields) and a copy of the firmware ELF.

``reproduce``: the exact command line, the command that runs the same capture again (same ELF
copy, seed, scenario, machine), the tool versions, the photondbg version and git commit.
``timeline``: the run's events (WiFi cuts and restores, the fault, panic, lock-up) on one clock,
seconds since the device started running, and the tail of the serial console.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ELF_COPY = "firmware.elf"  # the ELF kept inside a self-contained capture

SERIAL_TAIL_LINES = 40
TOOLS_BY_TARGET = {
    "sim": ("qemu-system-arm", "gdb-multiarch", "arm-none-eabi-gcc"),
    "photon": ("openocd", "gdb-multiarch", "arm-none-eabi-gcc"),
}


@functools.cache
def tool_version(name: str) -> str | None:
    """First line of ``NAME --version`` (asked once per process)."""
    from photondbg import tools

    tool = tools.BY_NAME.get(name) or tools.Tool(name, "", "", ())
    return tools.version(tool, timeout=5.0)


@functools.lru_cache(maxsize=1)
def photondbg_version() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("photondbg")
    except PackageNotFoundError:
        v = None
    commit = None
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5.0,
                check=False,
            )
            commit = out.stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            pass
    return {"version": v, "commit": commit, "python": ".".join(map(str, sys.version_info[:3]))}


def rerun_command(req, elf: str | None, seed: int | None) -> list[str]:
    """argv of a capture-fault that runs the same firmware, scenario and seed again."""
    cmd = ["photondbg", "capture-fault", "--target", req.target]
    if elf:
        cmd += ["--elf", elf]
        if req.variant:
            cmd += ["--variant", req.variant]
    else:
        cmd += ["--app", req.app, "--variant", req.variant or "none"]
    cmd += ["--scenario", req.scenario]
    if req.scenario == "wifi-loss" and elf:
        cmd += ["--app", req.app]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if req.machine:
        cmd += ["--machine", req.machine]
    cmd += ["--timeout", f"{req.timeout:g}", "--follow", f"{req.follow:g}"]
    if req.probe:
        cmd += ["--probe", req.probe]
    if req.serial_port:
        cmd += ["--serial", req.serial_port]
    return cmd


def copy_elf(capdir: Path, elf: Path | None) -> str | None:
    """Keep the firmware inside the capture (replay, report --check work without the build)."""
    if elf is None or not Path(elf).is_file():
        return None
    dest = Path(capdir) / ELF_COPY
    if Path(elf).resolve() != dest.resolve():
        tmp = dest.with_name(f".{ELF_COPY}.part")
        shutil.copyfile(elf, tmp)
        os.replace(tmp, dest)
    return ELF_COPY


def reproduce_section(req, capdir: Path, report: dict, argv: list[str] | None = None) -> dict:
    target = report.get("target") or {}
    elf = target.get("elf")
    copy = copy_elf(capdir, Path(elf) if elf else None)
    seed = (report.get("scenario") or {}).get("seed")
    rerun = rerun_command(req, str(Path(capdir).resolve() / copy) if copy else elf, seed)
    rebuild = None
    if req.elf is None:  # built from the app sources: the same build, from source
        rebuild = rerun_command(req, None, seed)
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = Path(argv[0]).name
    return {
        "argv": argv,
        "command_line": shlex.join(argv),
        "cwd": os.getcwd(),
        "rerun": shlex.join(rerun),
        "rebuild": shlex.join(rebuild) if rebuild else None,
        "seed": seed,
        "elf_copy": copy,
        "elf_sha256": target.get("elf_sha256"),
        "tools": {
            name: tool_version(name)
            for name in TOOLS_BY_TARGET.get(req.target, TOOLS_BY_TARGET["sim"])
        },
        "photondbg": photondbg_version(),
        "note": "same firmware, scenario and seed; the simulator is not cycle-deterministic, "
        "so a WiFi-loss run may fault at another cut",
    }


def serial_tail(capdir: Path, lines: int = SERIAL_TAIL_LINES) -> list[str]:
    path = Path(capdir) / "serial.log"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [ln.rstrip("\r") for ln in text.splitlines()][-lines:]


def timeline_section(report: dict, capdir: Path, t_stop: float | None) -> dict:
    """Events on one clock: seconds since the device started running (the ``run`` stage)."""
    now_wall, now_mono = time.time(), time.monotonic()
    stop_wall = now_wall - (now_mono - t_stop) if t_stop is not None else None
    run = next((s for s in report.get("stages") or [] if s.get("name") == "run"), None)
    t0 = (
        stop_wall - run["seconds"] if stop_wall is not None and run and run.get("seconds") else None
    )
    events = []
    for e in (report.get("scenario") or {}).get("events") or []:
        if isinstance(e, dict) and e.get("wall") is not None:
            events.append({"wall": e["wall"], "event": e.get("name"), "detail": e.get("detail")})
    if t0 is None and events:
        t0 = events[0]["wall"]
    if stop_wall is not None:
        out = report.get("outcome")
        if report.get("fault"):
            f = report["fault"]
            detail = (
                f"{f.get('kind') or f.get('vector')} at "
                f"{f.get('faulting_symbol') or _hex(f.get('faulting_pc'))}"
            )
            events.append({"wall": stop_wall, "event": "fault", "detail": detail})
        elif out in ("panic", "lockup"):
            events.append({"wall": stop_wall, "event": out, "detail": ""})
    afters = [e for e in report.get("after_fault_events") or [] if isinstance(e, dict)]
    if not afters and isinstance(report.get("after_fault"), dict):
        afters = [report["after_fault"]]
    for after in afters:  # in order, after the fault; the follow stage keeps no clock
        events.append(
            {
                "wall": None,
                "event": after.get("kind"),
                "detail": after.get("detail") or after.get("symbol") or "",
                "after": "fault",
            }
        )
    for e in events:
        e["t"] = round(e["wall"] - t0, 3) if e["wall"] is not None and t0 is not None else None
        if e["wall"] is not None:
            e["wall"] = round(e["wall"], 3)
    events.sort(key=lambda e: (e["t"] is None, e["t"] or 0))
    return {
        "t0_wall": round(t0, 3) if t0 is not None else None,
        "clock": "seconds since the device started running",
        "events": events,
        "serial_tail": serial_tail(capdir),
    }


def _hex(v) -> str:
    return "??" if v is None else f"0x{int(v):08x}"


def sections(capture) -> dict:
    """Both sections for a :class:`~photondbg.capture.engine.Capture` that has run; never
    raises (a capture is never lost for want of its provenance)."""
    out = {}
    try:
        out["reproduce"] = reproduce_section(
            capture.req, capture.capdir, capture.report, getattr(capture.req, "argv", None)
        )
        if out["reproduce"]["elf_copy"]:
            capture.report["artifacts"][ELF_COPY] = ELF_COPY
    except Exception as e:  # noqa: BLE001 - provenance is best effort, the capture is not
        out["reproduce"] = {"error": f"{type(e).__name__}: {e}"}
    try:
        out["timeline"] = timeline_section(capture.report, capture.capdir, capture.t_stop)
    except Exception as e:  # noqa: BLE001
        out["timeline"] = {"error": f"{type(e).__name__}: {e}", "events": []}
    return out
