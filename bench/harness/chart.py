"""The chart: throughput by connection count, one panel per workload: FraiseQL over the
views and over the tv_ projection tables, the pgbench ceiling and PostGraphile. Needs
matplotlib (bench/run.sh installs it in a venv); without it the report has no chart."""

from __future__ import annotations

from pathlib import Path

SERIES = [("fraiseql", "FraiseQL (v_ views)", "#d62a5c"),
          ("fraiseql_tv", "FraiseQL (tv_ tables)", "#f28e2b"),
          ("pgbench", "pgbench ceiling (views' SQL)", "#7f7f7f"),
          ("postgraphile", "PostGraphile 4", "#1f77b4")]


def _rate(system: str, point: dict) -> float:
    return point["tps"] if system == "pgbench" else point["rps"]


def draw(results: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = list(results["workloads"])
    if not keys:
        return False
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys) + 0.8, 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        w = results["workloads"][key]
        conns = results["settings"]["concurrency"]
        width = 0.8 / len(SERIES)
        for i, (system, label, colour) in enumerate(SERIES):
            points = w.get(system, {})
            points = points.get("points", []) if isinstance(points, dict) else points
            by_c = {p["connections"]: _rate(system, p) for p in points}
            xs = [j + (i - (len(SERIES) - 1) / 2) * width for j in range(len(conns))]
            ax.bar(xs, [by_c.get(c, 0) for c in conns], width, label=label, color=colour)
        ax.set_title(f"{key}", fontsize=10)
        ax.set_xticks(range(len(conns)))
        ax.set_xticklabels([str(c) for c in conns])
        ax.set_xlabel("connections")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("requests (transactions) / s")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(SERIES), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
