"""What lrpo decides for fixed seeds: the plans, router tables and rewards a redesign must keep.

``python tests/golden/behaviour.py`` records ``behaviour.json`` from the current code; do it
only when a change of behaviour is intended, and say so in the commit. ``test_golden.py``
recomputes every entry and compares.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lrpo import RouterConfig, Schedule
from lrpo.calibration import SHIPPED_TABLE, CalibrationTable, MeanCalibrator, QuantileCalibrator
from lrpo.rewards import LanguageGate, SemanticReward
from lrpo.router import make_router
from lrpo.sim import default_scenario, simulate

RECORD = Path(__file__).with_name("behaviour.json")
LANGUAGES = ("en", "de", "ja", "sw", "zh")
THEMES = ("General Knowledge", "Regional Knowledge", "Reasoning / Logic", "Translation")
STEPS = 8


def _config(**overrides: Any) -> RouterConfig:
    settings: dict[str, Any] = {
        "languages": LANGUAGES,
        "themes": THEMES[:3],
        "regions": ("Japan", "Kenya"),
        "num_rollouts": 6,
        "num_on_policy": 2,
        "update_period": 2,
        "temperature": Schedule(kind="exponential", start=1.0, end=0.3, decay=0.9),
        "epsilon": Schedule(kind="exponential", start=0.3, end=0.05, decay=0.9),
        "seed": 7,
    }
    return RouterConfig(**(settings | overrides))


def _routers() -> dict[str, Any]:
    thompson = {"kind": "thompson", "prior_strength": 2.0, "noise_scale": 0.5, "discount": 0.9}
    policies: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "ema": ({"kind": "ema"}, {}),
        "ema-all-regions": ({"kind": "ema"}, {"region_scope": "all", "ema_alpha": 0.3}),
        "thompson": ({"kind": "thompson"}, {}),
        "thompson-discounted": (thompson, {}),
        "monolingual": ({"kind": "monolingual"}, {}),
        "input-dominant": ({"kind": "dominant", "language": "input"}, {}),
        "english-dominant": ({"kind": "dominant", "language": "en"}, {}),
        "fixed": ({"kind": "fixed", "distribution": {"de": 3.0, "sw": 1.0}}, {}),
        "uniform": ({"kind": "uniform"}, {}),
    }
    return {
        name: make_router(_config(policy=policy, **overrides))
        for name, (policy, overrides) in policies.items()
    }


def _prompts(step: int) -> list[dict[str, Any]]:
    """Twelve prompts per step: every theme, with and without regions, several themes."""
    rng = np.random.default_rng(step)
    prompts = []
    for i in range(12):
        prompt: dict[str, Any] = {"language": LANGUAGES[int(rng.integers(len(LANGUAGES)))]}
        if i % 4 == 3:
            prompt["themes"] = [THEMES[0], THEMES[2]]
        else:
            prompt["theme"] = THEMES[int(rng.integers(len(THEMES)))]
        if i % 3 == 0:
            prompt["region"] = ("Japan", "Kenya", "Peru")[i % 3 + int(rng.integers(2))]
        prompts.append(prompt)
    prompts.append({"language": "en", "theme": "Unseen Theme"})
    return prompts


def _rewards(languages: np.ndarray, step: int) -> np.ndarray:
    """Rewards that favour some languages, with noise and an unusable (NaN) one."""
    quality = {"en": 0.6, "de": 0.5, "ja": 0.7, "sw": 0.2, "zh": 0.4}
    base = np.vectorize(quality.get, otypes=[float])(languages)
    rewards = base + np.random.default_rng(100 + step).normal(0.0, 0.1, languages.shape)
    rewards[0, -1] = np.nan
    return rewards


def _router_record(router: Any) -> dict[str, Any]:
    plans = []
    for step in range(STEPS):
        plan = router.route(_prompts(step))
        plans.append(plan.languages.tolist())
        router.record(plan, _rewards(plan.languages, step))
    probe = _prompts(STEPS)[:4]
    probabilities = [router.probabilities(context) for context in probe]
    return {
        "plans": plans,
        "softmax": [p.softmax.tolist() for p in probabilities],
        "effective": [p.effective.tolist() for p in probabilities],
        "metrics": {k: v for k, v in router.metric_sums().metrics().items() if np.isfinite(v)},
    }


def _calibration_record() -> dict[str, Any]:
    table = CalibrationTable.load(SHIPPED_TABLE)
    scores = np.linspace(0.55, 1.0, 10)
    pairs = [("en", "en"), ("en", "de"), ("de", "ja"), ("zh", "sw"), ("sw", "sw"), ("pl", "sw")]
    ref = np.repeat([p[0] for p in pairs], len(scores))
    out = np.repeat([p[1] for p in pairs], len(scores))
    tiled = np.tile(scores, len(pairs))
    return {
        "mean": MeanCalibrator().fit(table)(tiled, ref, out).tolist(),
        "quantile": QuantileCalibrator().fit(table)(tiled, ref, out).tolist(),
    }


GATE_TEXTS = [
    ("The answer is 42 because six times seven is forty-two.", "en"),
    ("Die Antwort ist 42, weil sechs mal sieben zweiundvierzig ergibt.", "de"),
    ("答えは42です。6かける7は42だからです。", "ja"),
    ("The answer is 42 because six times seven is forty-two.", "de"),
    ("Jibu ni 42 kwa sababu sita mara saba ni arobaini na mbili.", "sw"),
    ("See https://example.com/docs and run `pip install lrpo` then 答案是42。", "zh"),
    ("", "en"),
    ("12345 + 678 = 13023", "en"),
]

SAVE = "Choose Save in the File menu."
REWARD_ITEMS = [
    # completion, reference, requested language, reference language, prompt
    ("The answer is 42.", "The answer is 42.", "en", "en", "What is 6 * 7?"),
    ("Die Antwort ist 42.", "The answer is 42.", "de", "en", "What is 6 * 7?"),
    ("Die Antwort ist 41.", "The answer is 42.", "de", "en", "What is 6 * 7?"),
    ("答えは42です。", "The answer is 42.", "ja", "en", "What is 6 * 7?"),
    ("The answer is 42.", "The answer is 42.", "ja", "en", "What is 6 * 7?"),
    ("What is 6 * 7?", "The answer is 42.", "en", "en", "What is 6 * 7?"),
    (
        "Open the file menu and choose Save.",
        "Choose Save in the File menu.",
        "en",
        "en",
        "How do I save?",
    ),
    (
        "Öffnen Sie das Menü Datei und wählen Sie Speichern.",
        "Choose Save in the File menu.",
        "de",
        "en",
        "How do I save?",
    ),
    ("", "The answer is 42.", "en", "en", "What is 6 * 7?"),
]


def _reward_record() -> dict[str, Any]:
    completions, references, requested, ref_langs, prompts = map(
        list, zip(*REWARD_ITEMS, strict=True)
    )
    out: dict[str, Any] = {}
    for calibration in ("mean", "quantile", "none"):
        reward = SemanticReward({"calibration": calibration})
        breakdown = reward.score(
            completions, references, requested, prompts=prompts, ref_langs=ref_langs
        )
        out[calibration] = {
            "reward": breakdown.reward.tolist(),
            "guard": breakdown.guard.tolist(),
            "gate_reason": breakdown.gate_reason.tolist(),
        }
    gate = LanguageGate()
    texts, langs = map(list, zip(*GATE_TEXTS, strict=True))
    result = gate.check(texts, langs)
    out["gate"] = {"reason": result.reason.tolist(), "value": result.value.tolist()}
    return out


def _simulation_record() -> dict[str, Any]:
    results = simulate(default_scenario(), None, steps=12, batch_size=16, progress=False)
    return {
        condition: {name: run["final"] for name, run in runs.items()}
        for condition, runs in results["runs"].items()
    }


def record() -> dict[str, Any]:
    """Everything the golden test compares, computed by the current code."""
    return {
        "routers": {name: _router_record(router) for name, router in _routers().items()},
        "calibration": _calibration_record(),
        "rewards": _reward_record(),
        "simulation": _simulation_record(),
    }


if __name__ == "__main__":
    RECORD.write_text(json.dumps(record(), sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
