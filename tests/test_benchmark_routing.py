"""Tests for benchmarks/routing_throughput.py and its pure-Python baseline router."""

import json
from collections import Counter

import numpy as np
import pytest
from conftest import load_benchmark
from scipy import stats

from lrpo.router import LanguageRouter, RouterConfig, RoutingContext, Schedule

throughput = load_benchmark("routing_throughput")
PurePythonRouter = load_benchmark("_reference_router").PurePythonRouter

LANGUAGES = ("ar", "de", "en", "es", "fr", "ja", "ru", "zh")
REGIONAL = RoutingContext("ja", ("Regional Knowledge", "Reasoning / Logic"), ("Japan", "China"))
CONTEXTS = [
    REGIONAL,
    RoutingContext("de", ("General Knowledge",), ("Japan",)),  # region rows do not apply
    RoutingContext("fr", ("Chat / Conversational",)),
    RoutingContext("ru", ("Unseen Theme",)),  # cold start: a zero row
]


def _config(**overrides) -> RouterConfig:
    settings = {
        "languages": LANGUAGES,
        "regions": ("Japan", "China"),
        "theme_priors": {
            "Regional Knowledge": {"ja": 3.0, "zh": 1.0, "en": 0.5, "de": 0.2},
            "Reasoning / Logic": {"en": 2.0, "ja": 1.0, "fr": 0.1},
            "General Knowledge": {"es": 1.0, "ar": 0.3},
        },
        "region_priors": {"Japan": {"ja": 2.0, "zh": 0.5}, "China": {"zh": 2.0}},
        "prior_kind": "logits",
        "temperature": Schedule(kind="exponential", start=1.0, end=0.3, decay=0.99),
        "epsilon": Schedule(kind="exponential", start=0.2, end=0.0, decay=0.995),
        "seed": 3,
    }
    return RouterConfig(**{**settings, **overrides})


def _learned_router() -> LanguageRouter:
    """A router whose logits come from priors plus a few EMA updates."""
    router = LanguageRouter(_config())
    rng = np.random.default_rng(0)
    bonus = {code: i / len(LANGUAGES) for i, code in enumerate(LANGUAGES)}
    for _ in range(10):
        plan = router.route(CONTEXTS * 16)
        mean = np.vectorize(bonus.get, otypes=[float])(plan.languages)
        router.record(plan, mean + rng.normal(0.0, 0.1, plan.languages.shape))
    return router


def test_quick_mode_writes_json_with_expected_keys(tmp_path):
    output = tmp_path / "routing_throughput.json"
    results = throughput.main(["--quick", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(results))
    assert set(saved) == {"settings", "environment", "routing", "update", "targets"}
    assert saved["settings"]["quick"] is True
    assert saved["settings"]["num_rollouts"] == 8 and saved["settings"]["num_on_policy"] == 2
    assert len(saved["settings"]["languages"]) == 15 and len(saved["settings"]["regions"]) == 24
    assert [row["batch"] for row in saved["routing"]] == list(saved["settings"]["batch_sizes"])
    for row in saved["routing"]:
        for name in ("router", "baseline", "thompson"):
            assert row[f"routing/{name}_rollouts_per_s"] > 0
        assert row["routing/speedup"] > 0
    for name in ("router_update_ms", "baseline_update_ms", "router_record_ms"):
        assert saved["update"][f"update/{name}"] > 0
    assert saved["update"]["update/cells_filled"] == saved["settings"]["update_buckets"] * 15
    assert set(saved["targets"]) >= {"targets/speedup_at_1024_met", "targets/update_ms_met"}


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: "+".join(c.themes))
def test_baseline_draws_match_router_effective_distribution(context):
    router = _learned_router()
    step = router.step
    effective = router.probabilities(context, step=step).effective
    assert effective.max() > 1.5 * effective.min()  # learned, far from uniform

    baseline = PurePythonRouter.from_router(router, seed=11)
    prompts = 4000
    plan = baseline.route([context] * prompts, step)
    assert all(group[:2] == [context.language] * 2 for group in plan)
    counts = Counter(code for group in plan for code in group[2:])
    observed = np.array([counts.get(code, 0) for code in LANGUAGES])
    expected = effective * observed.sum()
    assert stats.chisquare(observed, expected).pvalue > 1e-3

    # The router's own plans follow the same distribution, so the comparison is like for like.
    arms = router.route([context] * prompts, step=step).arms[:, 2:]
    observed = np.bincount(arms.ravel(), minlength=len(LANGUAGES))
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_baseline_softmax_matches_router():
    router = _learned_router()
    baseline = PurePythonRouter.from_router(router)
    for context in CONTEXTS:
        np.testing.assert_allclose(
            baseline.probabilities(context, router.step),
            router.probabilities(context, step=router.step).softmax,
            rtol=1e-12,
            atol=1e-15,
        )


def test_baseline_keeps_translation_prompts_in_their_language():
    baseline = PurePythonRouter.from_router(LanguageRouter(_config()))
    context = RoutingContext("zh", ("Translation", "General Knowledge"))
    assert baseline.route([context] * 50, 0) == [["zh"] * 8] * 50


def test_baseline_update_matches_router_update():
    router = _learned_router()
    router.update()  # start from an empty window
    baseline = PurePythonRouter.from_router(router)
    rng = np.random.default_rng(1)
    contexts = CONTEXTS * 8
    for _ in range(3):
        plan = router.route(contexts)
        rewards = rng.uniform(size=plan.languages.shape)
        router.record(plan, rewards)
        baseline.record(contexts, plan.languages.tolist(), rewards.tolist())
    router.update()
    baseline.update()
    for table, rows in (
        (router.theme_table, baseline.theme_rows),
        (router.region_table, baseline.region_rows),
    ):
        names, logits = table()
        expected = np.array([rows.get(name, [0.0] * len(LANGUAGES)) for name in names])
        np.testing.assert_allclose(expected, logits, rtol=1e-9, atol=1e-12)
