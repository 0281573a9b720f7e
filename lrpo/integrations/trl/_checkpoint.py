"""The router's state in the trainer's checkpoints (saved by ``on_save``, restored when training
resumes) and, optionally, heatmaps of its tables next to it."""

from __future__ import annotations

import json
import os
from typing import Any

from lrpo.router import BaseRouter

__all__ = ["HEATMAP_NAMES", "ROUTER_STATE_NAME", "RouterCheckpoint"]

#: File written into every checkpoint folder with the router state.
ROUTER_STATE_NAME = "lrpo_router_state.json"
#: PNG heatmaps of the router's tables written at each checkpoint with ``save_heatmaps=True``.
HEATMAP_NAMES = {"themes": "lrpo_router_themes.png", "regions": "lrpo_router_regions.png"}


class RouterCheckpoint:
    """Saves and restores the router with the trainer's checkpoints.

    Parameters
    ----------
    router : BaseRouter
        The router whose state travels with the checkpoints.
    strict_resume : bool
        Resuming from a checkpoint without a router state raises.
    save_heatmaps : bool
        Also draw the theme and region tables as PNGs (needs matplotlib, checked here).
    """

    def __init__(self, router: BaseRouter, *, strict_resume: bool, save_heatmaps: bool) -> None:
        if save_heatmaps:
            try:
                import matplotlib  # noqa: F401
            except ImportError as error:
                raise ImportError(
                    "save_heatmaps=True draws PNGs with matplotlib, which is not installed: "
                    "pip install 'lrpo[plot]', or pass save_heatmaps=False"
                ) from error
        self.router = router
        self.strict_resume = strict_resume
        self.save_heatmaps = save_heatmaps
        self._resume_dir: str | None = None
        self._last_saved_step = -1

    def resuming(self, resume_from_checkpoint: str | bool | None, output_dir: str) -> None:
        """Note the checkpoint ``trainer.train(resume_from_checkpoint=...)`` resumes from.

        Parameters
        ----------
        resume_from_checkpoint : str, bool or None
            As passed to ``train``: a folder, True for the last checkpoint in ``output_dir``.
        output_dir : str
            The trainer's output folder.
        """
        if resume_from_checkpoint is True:
            from transformers.trainer_utils import get_last_checkpoint

            resume_from_checkpoint = get_last_checkpoint(output_dir)
        self._resume_dir = (
            resume_from_checkpoint if isinstance(resume_from_checkpoint, str) else None
        )

    def restore(self, output_dir: str, step: int) -> None:
        """Load the router state of the checkpoint training resumes at ``step`` (if > 0).

        Parameters
        ----------
        output_dir : str
            The trainer's output folder, where ``checkpoint-<step>`` is looked for when no
            checkpoint was named.
        step : int
            The global step training starts from.
        """
        if step == 0:
            return
        folder = self._resume_dir or os.path.join(output_dir, f"checkpoint-{step}")
        path = os.path.join(folder, ROUTER_STATE_NAME)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                self.router.load_state_dict(json.load(handle)["router"])
        elif self.strict_resume:
            raise FileNotFoundError(
                f"resuming at step {step} but {path} does not exist, so the router would not "
                "route as the interrupted run; resume from a checkpoint saved with the "
                "callback, or pass strict_resume=False to keep the current router state"
            )

    def save(self, output_dir: str, step: int) -> None:
        """Write the router state (and heatmaps) into ``checkpoint-<step>``, once per step.

        Parameters
        ----------
        output_dir : str
            The trainer's output folder.
        step : int
            The global step being saved.
        """
        if step == self._last_saved_step:
            return
        self._last_saved_step = step
        folder = os.path.join(output_dir, f"checkpoint-{step}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, ROUTER_STATE_NAME)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"router": self.router.state_dict()}, handle)
        os.replace(path + ".tmp", path)
        if self.save_heatmaps:
            self._save_heatmaps(folder, step)

    def _save_heatmaps(self, folder: str, step: int) -> None:
        """The router's theme and region logit tables as PNGs in the checkpoint ``folder``."""
        from lrpo.sim.plots import plot_table

        tables: dict[str, tuple[Any, str]] = {
            "themes": (self.router.theme_table(), "A: theme x language"),
            "regions": (self.router.region_table(), "B: region x language"),
        }
        languages = list(self.router.languages)
        for key, ((names, values), title) in tables.items():
            if names:
                path = os.path.join(folder, HEATMAP_NAMES[key])
                plot_table(names, values, languages, path, title=f"{title}, step {step}")
