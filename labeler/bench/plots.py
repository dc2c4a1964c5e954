"""Benchmark charts (matplotlib, from the [train] extra)."""

from __future__ import annotations

from pathlib import Path

from labeler.errors import MissingExtraError


def plot_model(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("train", "matplotlib") from None
    fig, ax = plt.subplots(figsize=(7, 4))
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        key = f"{row['engine']} {row['precision']} ({row['provider']})"
        series.setdefault(key, []).append((row["batch"], row["images_per_second"]))
    for key, points in series.items():
        ax.plot(*zip(*sorted(points), strict=True), marker="o", label=key)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("images/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
