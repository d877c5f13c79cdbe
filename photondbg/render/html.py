"""The HTML page of a capture: one self-contained file (inline CSS, no script, no external
resource) from the jinja2 template ``templates/report.html.j2``. The page is built from the
report dict plus what the capture directory holds (RAM dump for the memory view of a stale
object) and, when found on this machine, the source lines of the backtrace."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from photondbg.capture.model import CaptureReport
from photondbg.paths import FIRMWARE
from photondbg.render.markdown import fpu_view
from photondbg.replay.image import captured_memory

TEMPLATES = Path(__file__).resolve().parent / "templates"
MEMORY_VIEW_MAX = 256  # bytes shown per stale object
MEMORY_VIEWS_MAX = 4  # stale objects shown
ROW = 16


def hx(v, width: int = 8) -> str:
    return "-" if v is None else f"0x{int(v):0{width}x}"


@functools.lru_cache(maxsize=64)
def _lines(path: str) -> list[str] | None:
    try:
        return Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None


def source_line(file: str | None, line: int | None, roots: tuple[Path, ...]) -> str | None:
    """The text of file:line, looked up as recorded, then under the firmware tree and the
    capture directory; None when the source is not on this machine."""
    if not file or not line:
        return None
    cands = [Path(file)] if Path(file).is_absolute() else [r / file for r in roots]
    for c in cands:
        text = _lines(str(c))
        if text is not None and 0 < line <= len(text):
            return text[line - 1].strip()
    return None


def hexdump(
    mem, address: int, length: int, mark: int | None = None, mark_len: int = 4
) -> list[dict]:
    """Rows {address, cells [{hex, marked}], ascii}; bytes not captured show as '--'."""
    rows = []
    for row in range(address - address % ROW, address + length, ROW):
        data = mem.read(row, ROW)
        cells, text = [], ""
        for i in range(ROW):
            a = row + i
            inside = address <= a < address + length
            if i < len(data) and inside:
                cells.append(
                    {
                        "hex": f"{data[i]:02x}",
                        "marked": mark is not None and mark <= a < mark + mark_len,
                    }
                )
                text += chr(data[i]) if 32 <= data[i] < 127 else "."
            else:
                cells.append({"hex": "--" if inside else "  ", "marked": False})
                text += " "
        rows.append({"address": hx(row), "cells": cells, "ascii": text})
    return rows


def memory_views(capdir: Path, report: dict) -> list[dict]:
    rc = report.get("root_cause") or {}
    dangling = [d for d in rc.get("dangling") or [] if isinstance(d.get("block"), dict)]
    if not dangling:
        return []
    try:
        mem, _ = captured_memory(capdir, report)
    except Exception:  # noqa: BLE001 - a page without the view beats no page
        return []
    views = []
    for d in dangling[:MEMORY_VIEWS_MAX]:
        b = d["block"]
        addr, size = int(b.get("addr", 0)), int(b.get("size") or 0) or 64
        value = d.get("value")
        mark_len = int(d.get("type_size") or 4)
        start, end = addr, addr + size
        if size > MEMORY_VIEW_MAX:  # a window of the block that holds what the pointer targets
            if value is not None and addr <= value < addr + size:
                start = max(addr, (int(value) - 64) & ~(ROW - 1))
            end = min(addr + size, start + MEMORY_VIEW_MAX)
        views.append(
            {
                "path": d.get("path"),
                "value": hx(value),
                "type": d.get("type"),
                "block": hx(addr),
                "size": size,
                "state": b.get("state"),
                "hint": b.get("contents_hint"),
                "window": f"+{start - addr}..+{end - addr}",
                "partial": end - start < size,
                "rows": hexdump(mem, start, end - start, mark=value, mark_len=mark_len),
            }
        )
    return views


def context(capdir: Path, report: CaptureReport) -> dict:
    roots = (FIRMWARE, Path(capdir), Path.cwd())
    bt = []
    for i, fr in enumerate(report.backtrace or []):
        bt.append(
            {
                "n": i,
                "pc": hx(fr.pc),
                "function": fr.function or "??",
                "where": fr.where,
                "source": source_line(fr.file, fr.line, roots),
                "marker": fr.marker,
            }
        )
    threads = []
    for t in report.threads or []:
        d = t.to_dict()
        top = next((f for f in d.get("backtrace") or [] if f.get("function")), None)
        threads.append(
            {**d, "stack": f"{hx(t.stack_lo)}-{hx(t.stack_hi)}", "sp_hex": hx(t.sp), "top": top}
        )
    return {
        "r": report,
        "capdir": str(capdir),
        "backtrace": bt,
        "threads": threads,
        "memory_views": memory_views(capdir, report.to_dict()),
        "fpu": fpu_view(report),
        "hx": hx,
    }


def render_html(capdir: Path | str, report: CaptureReport | dict) -> str:
    """The page, from the typed report (a report dict is typed first)."""
    model = report if isinstance(report, CaptureReport) else CaptureReport.from_dict(report)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hx"] = hx
    return env.get_template("report.html.j2").render(**context(Path(capdir), model))
