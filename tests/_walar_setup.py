"""What the WALAR tests share: a QE stub with fixed scores, a word aligner on a lookup-table
encoder (hand-computable F1), and the tiny MetricX and encoder saved where a config names them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("py3langid")

from test_alignment import (  # noqa: E402
    GATE,
    LookupEncoder,
    concept_vectors,
    tiny_bert,
    wordpiece_tokenizer,
)
from test_qe import score_token, tiny_metricx  # noqa: E402

from lrpo.rewards import (  # noqa: E402
    METRICX_SCORE_TOKEN,
    WalarReward,
    WalarRewardConfig,
    WordAligner,
)

SOURCE = "Katzen und Hunde schnarchen"
#: Aligned with SOURCE by the lookup encoder: P = 3/5, R = 3/4, F1 = 2/3 (tests/test_alignment).
ENGLISH_HYPOTHESIS = "The cats and the dogs."
F1 = 2 / 3


class FixedQE:
    """A QE scorer with fixed scores per hypothesis (``default`` for the others); it keeps
    the pairs it was asked about."""

    def __init__(self, scores: dict[str, float] | None = None, default: float = 5.0) -> None:
        self.scores, self.default = scores or {}, default
        self.calls: list[tuple[str, str]] = []

    def score(self, sources, hypotheses) -> np.ndarray:
        self.calls.extend(zip(sources, hypotheses, strict=True))
        return np.array([self.scores.get(h, self.default) for h in hypotheses])


def lookup_aligner(**gate) -> WordAligner:
    """WALAR's aligner on the lookup encoder (layer 0), its span gate among ``GATE``'s languages."""
    return WordAligner(
        model=LookupEncoder(concept_vectors()),
        tokenizer=wordpiece_tokenizer(),
        layer=0,
        gate=GATE | gate,
    )


def walar_reward(aligner: WordAligner, qe: Any = None, **settings: Any) -> WalarReward:
    """A WalarReward on ``aligner`` and ``qe`` (default: 5 for every pair), its gate among
    ``GATE``'s languages; ``settings`` are further WalarRewardConfig fields."""
    config = WalarRewardConfig(gate=GATE | settings.pop("gate", {}), **settings)
    return WalarReward(config, qe=qe or FixedQE(), aligner=aligner)


def saved_walar_models(folder: Path) -> dict[str, Any]:
    """The tiny MetricX (with its tokenizer) and a tiny BERT encoder saved in ``folder``; returns
    the ``kind: walar`` reward settings that load them by path, as a user's config names
    checkpoints."""
    metricx, metricx_tokenizer = tiny_metricx()
    # A loaded MetricX reads the logit of mT5's <extra_id_10>: give the tiny model that many rows.
    row = metricx.lm_head.weight[score_token(metricx_tokenizer)].detach().clone()
    metricx.resize_token_embeddings(METRICX_SCORE_TOKEN + 1, mean_resizing=False)
    with torch.no_grad():
        metricx.lm_head.weight[METRICX_SCORE_TOKEN] = row
    encoder = folder / "encoder"
    metricx.save_pretrained(folder / "metricx")
    metricx_tokenizer.save_pretrained(folder / "metricx")
    tiny_bert().save_pretrained(encoder)
    wordpiece_tokenizer().save_pretrained(encoder)
    return {
        "kind": "walar",
        "qe_model": str(folder / "metricx"),
        "qe_tokenizer": str(folder / "metricx"),
        "qe_device": "cpu",
        "gate": GATE,
        "alignment": {"encoder": str(encoder), "layer": 2, "device": "cpu", "gate": GATE},
    }
