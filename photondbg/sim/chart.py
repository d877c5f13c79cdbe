"""A small PNG of outcomes per cycle (one row per run, one coloured cell per cycle), written
with zlib alone so it needs no plotting library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

COLOURS = {  # outcome -> RGB
    "OK": (46, 160, 67),
    "NO_RECOVERY": (230, 180, 30),
    "CRASH": (210, 40, 40),
    "LOCKUP": (120, 20, 120),
    "HANG": (60, 60, 60),
}
BACKGROUND = (255, 255, 255)
GAP = (230, 230, 230)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(path: Path, pixels: list[list[tuple[int, int, int]]]) -> None:
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)
    png = (b"\x89PNG\r\n\x1a\n"
           + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
    Path(path).write_bytes(png)


def outcome_chart(path: Path, rows: list[list[str]], cell: int = 16, pad: int = 4) -> None:
    """``rows``: per run, the outcome of each cycle. Cells are ``cell`` px squares."""
    cols = max((len(r) for r in rows), default=1) or 1
    width = pad + cols * (cell + pad)
    height = pad + len(rows) * (cell + pad)
    img = [[BACKGROUND] * width for _ in range(height)]
    for ri, row in enumerate(rows):
        for ci in range(cols):
            colour = COLOURS.get(row[ci], GAP) if ci < len(row) else GAP
            y0, x0 = pad + ri * (cell + pad), pad + ci * (cell + pad)
            for y in range(y0, y0 + cell):
                img[y][x0:x0 + cell] = [colour] * cell
    write_png(path, img)
