"""PNG plots of per-pair score distributions before and after calibration (needs matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .evaluation import PairScores

__all__ = ["plot_pair_distributions"]

_COLOURS = {"equivalent": "tab:green", "hard_negative": "tab:red", "mismatch": "tab:grey"}


def plot_pair_distributions(panels: Mapping[str, PairScores], path: str | Path) -> Path:
    """One panel per entry of ``panels`` (e.g. raw, mean, quantile): mean +- std per kind.

    Pairs are ordered by their raw equivalent mean (pairs without equivalents last), so a
    rising green line is the cross-pair bias that calibration should flatten.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(panels.values()))
    order = sorted(first, key=lambda pair: _sort_key(first[pair]))
    labels = [f"{a}-{b}" for a, b in order]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(max(10, 0.12 * len(order)), 3.2 * len(panels)), squeeze=False
    )
    positions = np.arange(len(order))
    for axis, (title, scores) in zip(axes[:, 0], panels.items(), strict=True):
        for kind, colour in _COLOURS.items():
            stats = [_mean_std(scores[pair].get(kind)) for pair in order]
            mean = np.array([m for m, _ in stats])
            std = np.array([s for _, s in stats])
            label = kind.replace("_", " ")
            style = {"fmt": "o", "ms": 2.5, "lw": 0.6, "color": colour, "label": label}
            axis.errorbar(positions, mean, yerr=std, **style)
        axis.set_title(title)
        axis.set_xlim(-1, len(order))
        axis.grid(alpha=0.3)
        axis.set_ylabel("score")
    axes[0, 0].legend(loc="lower right", fontsize="small")
    axes[-1, 0].set_xticks(positions, labels, rotation=90, fontsize=5)
    for axis in axes[:-1, 0]:
        axis.set_xticks(positions, [""] * len(order))
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _sort_key(kinds: Mapping[str, np.ndarray]) -> float:
    equivalents = kinds.get("equivalent")
    return float(np.mean(equivalents)) if equivalents is not None and len(equivalents) else 9.0


def _mean_std(values: np.ndarray | None) -> tuple[float, float]:
    if values is None or not len(values):
        return np.nan, np.nan
    return float(np.mean(values)), float(np.std(values))
