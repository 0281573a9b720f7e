"""PNG plots of a simulation (learning curves, learned tables) or of a live router's table.

The only module of :mod:`lrpo.sim` that imports matplotlib (the ``plot`` extra); it draws on
``matplotlib.figure.Figure`` directly: no GUI backend or global pyplot state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_learning_curves", "plot_router_tables", "plot_table", "save_plots"]

_CURVES = (
    ("quality", "true quality of routed rollouts"),
    ("regret", "cumulative regret vs oracle"),
    ("collapse", "collapse (share in prompt language)"),
)
_MAX_TABLE_ROWS = 40


def _figure(**kwargs: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'lrpo[plot]'") from error
    return Figure(**kwargs)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average that ignores NaN (steps without routed rollouts)."""
    valid = np.isfinite(values)
    sums = np.convolve(np.where(valid, values, 0.0), np.ones(window))[: len(values)]
    counts = np.convolve(valid.astype(float), np.ones(window))[: len(values)]
    return np.divide(sums, counts, out=np.full(len(values), np.nan), where=counts > 0)


def plot_learning_curves(results: dict[str, Any], path: Path) -> Path:
    """One row per condition, one column per curve, one line per router."""
    conditions = list(results["runs"])
    figure = _figure(figsize=(15, 4.2 * len(conditions)), layout="constrained")
    axes = figure.subplots(len(conditions), len(_CURVES), squeeze=False)
    steps = results["settings"]["steps"]
    window = max(1, steps // 20)
    for row, condition in enumerate(conditions):
        for col, (curve, title) in enumerate(_CURVES):
            axis = axes[row, col]
            for router, run in results["runs"][condition].items():
                values = np.asarray(run["curves"][curve], dtype=float)
                axis.plot(values if curve == "regret" else _smooth(values, window), label=router)
            axis.set_title(f"{condition} rewards: {title}")
            axis.set_xlabel("training step")
            axis.grid(alpha=0.3)
    figure.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper")
    figure.suptitle(
        f"scenario {results['scenario']}: {window}-step moving averages, "
        f"{len(results['settings']['seeds'])} seed(s)"
    )
    figure.savefig(path, dpi=110)
    return path


def _draw_table(
    figure: Any, axis: Any, names: list[str], values: Any, languages: list[str], title: str
) -> None:
    """One router table (rows x languages) as a heatmap centred on 0, with its colour bar."""
    shown = np.asarray(values, dtype=float)[:_MAX_TABLE_ROWS]
    limit = max(float(np.abs(shown).max(initial=0.0)), 1e-9)
    image = axis.imshow(shown, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axis.set_xticks(range(len(languages)), languages)
    axis.set_yticks(range(len(shown)), names[:_MAX_TABLE_ROWS], fontsize="small")
    more = "" if len(names) <= _MAX_TABLE_ROWS else f" (first {_MAX_TABLE_ROWS} of {len(names)})"
    axis.set_title(f"{title}{more}")
    figure.colorbar(image, ax=axis, shrink=0.8)


def plot_table(
    names: list[str], values: Any, languages: list[str], path: Path, *, title: str
) -> Path:
    """One router table as a PNG heatmap, e.g. ``plot_table(*router.theme_table(), ...)``."""
    figure = _figure(
        figsize=(6.5, 0.28 * min(_MAX_TABLE_ROWS, len(names)) + 2.5), layout="constrained"
    )
    _draw_table(figure, figure.subplots(), names, values, languages, title)
    figure.savefig(path, dpi=110)
    return path


def plot_router_tables(results: dict[str, Any], router: str, path: Path) -> Path:
    """Heatmaps of a learned router's theme (A) and region (B) rows, per condition."""
    conditions = [c for c in results["runs"] if "tables" in results["runs"][c].get(router, {})]
    languages = results["languages"]
    panels = [("themes", "theme_rows", "A: theme x language")]
    if any(results["runs"][c][router]["tables"]["regions"] for c in conditions):
        panels.append(("regions", "region_rows", "B: region x language"))
    heights = [
        min(_MAX_TABLE_ROWS, len(results["runs"][conditions[0]][router]["tables"][names]))
        for names, _, _ in panels
    ]
    figure = _figure(
        figsize=(6.5 * len(conditions), 0.28 * sum(heights) + 2.5 * len(panels)),
        layout="constrained",
    )
    axes = figure.subplots(
        len(panels), len(conditions), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for col, condition in enumerate(conditions):
        tables = results["runs"][condition][router]["tables"]
        for row, (names_key, rows_key, title) in enumerate(panels):
            _draw_table(
                figure,
                axes[row, col],
                tables[names_key],
                tables[rows_key],
                languages,
                f"{router}, {condition} rewards: {title}",
            )
    figure.savefig(path, dpi=110)
    return path


def save_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Learning curves and the tables of every learning router, as PNGs in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_learning_curves(results, out_dir / "learning_curves.png")]
    first_condition = next(iter(results["runs"].values()))
    for router, run in first_condition.items():
        if "tables" in run:
            paths.append(plot_router_tables(results, router, out_dir / f"tables_{router}.png"))
    return paths
