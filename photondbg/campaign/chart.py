"""The verify-fix picture: one row per run, one coloured cell per cycle, a legend and the
verdict in the title (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

COLOURS = {  # outcome -> colour
    "OK": "#2ea043",
    "NO_RECOVERY": "#e6b41e",
    "CRASH": "#d22828",
    "LOCKUP": "#781478",
    "HANG": "#3c3c3c",
}
MISSING = "#e6e6e6"  # a run with fewer cycles


def outcome_chart(
    path: Path, rows: list[list[str]], labels: list[str] | None = None, title: str | None = None
) -> None:
    """``rows``: per run, the outcome of each cycle; ``labels``: the runs' names."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    labels = labels or [f"run {i + 1}" for i in range(len(rows))]
    cols = max((len(r) for r in rows), default=1) or 1
    fig, ax = plt.subplots(figsize=(max(5.0, 3.0 + 0.32 * cols), 1.3 + 0.45 * len(rows)), dpi=100)
    for ri, row in enumerate(rows):
        y = len(rows) - 1 - ri
        for ci in range(cols):
            colour = COLOURS.get(row[ci], MISSING) if ci < len(row) else MISSING
            ax.add_patch(Rectangle((ci + 0.05, y + 0.1), 0.9, 0.8, color=colour))
    ax.set_xlim(0, cols)
    ax.set_ylim(0, len(rows))
    ax.set_yticks([len(rows) - 1 - i + 0.5 for i in range(len(rows))], labels)
    step = 1 if cols <= 20 else 5
    ticks = range(0, cols, step)
    ax.set_xticks([c + 0.5 for c in ticks], [str(c + 1) for c in ticks])
    ax.set_xlabel("cycle (WiFi cut)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    seen = [o for o in COLOURS if any(o in r for r in rows)]
    ax.legend(
        handles=[Patch(color=COLOURS[o], label=o) for o in seen],
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
        fontsize=8,
    )
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
