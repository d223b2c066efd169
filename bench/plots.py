"""Plots for docs/benchmarks.md from the JSON lines the benches append (matplotlib; bench only).

    .venv/bin/python bench/plots.py --latency /tmp/bench/latency.jsonl \
        --overhead /tmp/bench/overhead.jsonl --out docs/img

Writes ``poll_calls.png`` and ``poll_latency.png`` (status calls and completion latency
against N, completion markers against per-job polling, one line per target) and
``overhead.png`` (framework time per job against N: CPU per job and phases with N jobs
at once, the per-job framework time of jobs run one after another, per target).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STYLE = {"markers": "-o", "per-job": "--s"}


def rows(path: str | None) -> list[dict[str, Any]]:
    if not path or not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def latest(data: list[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """The last row for each key (a rerun replaces an earlier one)."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in data:
        found[tuple(row[k] for k in key)] = row
    return list(found.values())


def poll_plots(data: list[dict[str, Any]], out: Path) -> None:
    data = latest(data, ("target", "design", "jobs"))
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in data:
        series[(row["target"], row["design"])].append(row)
    for name, fields, ylabel, log in (
            ("poll_calls.png", ["status_calls"], "status calls (whole run)", True),
            ("poll_latency.png", ["latency_median_s", "latency_p95_s"],
             "job end to flow sees it (s)", True)):
        fig, axes = plt.subplots(1, len(fields), figsize=(6 * len(fields), 4.2), squeeze=False)
        for ax, field in zip(axes[0], fields, strict=True):
            for (target, design), points in sorted(series.items()):
                points.sort(key=lambda r: r["jobs"])
                ax.plot([p["jobs"] for p in points], [p[field] for p in points],
                        STYLE.get(design, "-x"), label=f"{target}, {design}")
            ax.set_xscale("log")
            if log:
                ax.set_yscale("log")
            ax.set_xlabel("jobs from one flow (N)")
            ax.set_ylabel(ylabel if len(fields) == 1 else f"{ylabel}: {field.split('_')[1]}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle("completion markers (60 s safety poll) vs one status call per job "
                     "per 10 s", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)


def overhead_plot(data: list[dict[str, Any]], out: Path) -> None:
    data = latest(data, ("target", "mode", "jobs"))
    targets = sorted({r["target"] for r in data})
    if not targets:
        return
    fig, axes = plt.subplots(1, len(targets), figsize=(6 * len(targets), 4.2), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        # N = 1 is left out: its CPU time is mostly the flow run's own start and end.
        points = sorted((r for r in data if r["target"] == target
                         and r["mode"] == "concurrent" and r["jobs"] >= 10),
                        key=lambda r: r["jobs"])
        xs = [p["jobs"] for p in points]
        ax.plot(xs, [p["cpu_ms_per_job"] for p in points], "-o",
                label="CPU per job, N at once (all threads)")
        for phase in ("records_ms", "logs_ms", "render_ms", "artifacts_ms"):
            ax.plot(xs, [p[phase] for p in points], "--", label=phase.removesuffix("_ms"))
        for row in (r for r in data if r["target"] == target and r["mode"] == "sequential"):
            ax.axhline(row["framework_ms_median"], color="green", ls=":",
                       label=f"framework per job, one after another (median of "
                             f"{row['jobs']})")
        ax.axhline(20, color="red", lw=0.8, label="20 ms target")
        ax.set_xscale("log")
        ax.set_ylim(0, 30)
        ax.set_xlabel("jobs (N)")
        ax.set_ylabel("ms per job")
        ax.set_title(target)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "overhead.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", default=None)
    parser.add_argument("--overhead", default=None)
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    poll_plots(rows(args.latency), out)
    overhead_plot(rows(args.overhead), out)


if __name__ == "__main__":
    main()
