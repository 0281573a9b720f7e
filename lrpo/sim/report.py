"""The summary table of a simulation: one row per (condition, router)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TABLE_METRICS", "format_table", "summary_rows"]

#: Final metrics in the table, in column order.
TABLE_METRICS = ("regret", "quality", "collapse")


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Mean and std over seeds of each final metric, per condition and router.

    Examples
    --------
    >>> results = {"runs": {"raw": {"uniform": {"final": {
    ...     "regret": [2.0, 4.0], "quality": [0.5, 0.7], "collapse": [0.1, 0.1]}}}}}
    >>> summary_rows(results)[0]["regret"]
    {'mean': 3.0, 'std': 1.0}
    """
    rows = []
    for condition, routers in results["runs"].items():
        for router, run in routers.items():
            row: dict[str, Any] = {"condition": condition, "router": router}
            for metric in TABLE_METRICS:
                values = np.asarray(run["final"][metric], dtype=np.float64)
                row[metric] = {"mean": float(values.mean()), "std": float(values.std())}
            rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of :func:`summary_rows`; ``mean ± std`` when there are several seeds."""
    with_std = any(row[metric]["std"] > 0 for row in rows for metric in TABLE_METRICS)

    def cell(stats: dict[str, float]) -> str:
        return f"{stats['mean']:.4f} ± {stats['std']:.4f}" if with_std else f"{stats['mean']:.4f}"

    header = ["condition", "router", *TABLE_METRICS]
    body = [
        [row["condition"], row["router"], *(cell(row[m]) for m in TABLE_METRICS)] for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])
