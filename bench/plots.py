"""Benchmark charts (matplotlib, part of the plain install)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    # Imported when a chart is drawn, so the CLI's start-up does not pay for matplotlib.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_model(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
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


def plot_pipeline(result: dict, path: Path) -> None:
    """Pipeline images/s beside the decode-only, model-only and serial ceilings, and where the
    workers' time went."""
    plt = _pyplot()
    fig, (ax_rate, ax_stage) = plt.subplots(1, 2, figsize=(10, 4))
    cores = result["cores"]
    bars = {"pipeline": result["images_per_second"],
            "serial ceiling": result["serial_ceiling"],
            f"decode x{cores}": result["decode_per_core"] * cores,
            f"model x{cores}": result["model_per_core"] * cores}
    ax_rate.barh(list(bars), list(bars.values()), color=["C0", "C1", "C2", "C3"])
    ax_rate.set_xlabel("images/s")
    share = result["fraction_of_ceiling"]
    ax_rate.set_title(f"{result['images']:,} images, {share:.0%} of the serial ceiling")
    stages = {k: v for k, v in result["stage_seconds"].items() if k != "chunks"}
    ax_stage.bar(list(stages), list(stages.values()))
    ax_stage.set_ylabel("seconds, summed over chunks")
    ax_stage.set_title("where the time went")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
