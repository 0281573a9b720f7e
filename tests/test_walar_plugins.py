"""WALAR's reward in the file-based plugins: the reward choice of the plugin config, OpenRLHF's
reward file (loaded and run by OpenRLHF's own executor) and verl's ``compute_score`` (loaded by
path as verl loads it), the source sentence and target language read from the packed label.

QE is a stub with fixed scores and the aligner runs on a lookup-table encoder, so every reward
is hand-computed: ``-QE + 20 * F1`` in the target language, -25 outside it."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from _walar_setup import (
    ENGLISH_HYPOTHESIS,
    F1,
    SOURCE,
    FixedQE,
    lookup_aligner,
    saved_walar_models,
    walar_reward,
)
from pydantic import ValidationError
from test_alignment import GATE, GERMAN
from test_openrlhf import (
    FILES,
    SETTINGS,
    FakeEngine,
    RecordingClient,
    chatml,
    execute_each,
    openrlhf_rollout,
    tokenizer,
)
from verl.utils.import_utils import load_extern_object

from lrpo.integrations import verl as lrpo_verl
from lrpo.integrations.openrlhf import reward_func
from lrpo.integrations.plugin import PluginConfig, RoutedRollouts, load_plugin_config
from lrpo.labelled.labels import LabelError, pack_label
from lrpo.labelled.scoring import score_labelled
from lrpo.rewards import (
    WALAR_REASONS,
    MetricXScorer,
    SemanticRewardConfig,
    WalarReward,
    WalarRewardConfig,
)
from lrpo.router_service import RouterService

__all__ = ["openrlhf_rollout", "tokenizer"]  # fixtures of test_openrlhf

VERL_REWARD_FILE = FILES.parent / "verl" / "lrpo_reward.py"
WALAR = {"kind": "walar", "gate": GATE}
QE = 3.0
#: WALAR's reward of ENGLISH_HYPOTHESIS for SOURCE: -QE + alpha * F1, alpha = 20.
SCORED = -QE + 20 * F1
WALAR_LOGS = {"walar/qe", "walar/f1", "walar/gate", *(f"walar/{r}_rate" for r in WALAR_REASONS)}
PROMPT = chatml(f"Translate into English: {SOURCE}", "de")  # "de": no language tag


def walar_label(**fields) -> str:
    """A translation prompt's label: German source, English target (as recipes/walar writes)."""
    fields = {"language": "en", "reference": SOURCE, "reference_language": "de"} | fields
    return pack_label(route=False, **fields)


class Translator(FakeEngine):
    """An engine that answers every prompt with the same translation."""

    def __init__(self, tokenizer, translation: str = ENGLISH_HYPOTHESIS) -> None:
        super().__init__(tokenizer)
        self.translation = translation

    def answer(self, prompt: str) -> str:
        return self.translation


@pytest.fixture(scope="module")
def aligner():
    return lookup_aligner()


@pytest.fixture
def walar_rollouts(aligner, monkeypatch) -> RoutedRollouts:
    """What ``RoutedRollouts.for_process()`` gives every worker: WALAR's reward with QE 3 for
    ENGLISH_HYPOTHESIS (5 for any other hypothesis)."""
    config = PluginConfig.model_validate({**SETTINGS, "reward": WALAR})
    reward = walar_reward(aligner, FixedQE({ENGLISH_HYPOTHESIS: QE}))
    client = RecordingClient(RouterService(config.make_router(), **config.service.owner_settings()))
    rollouts = RoutedRollouts(config, client=client, reward=reward)
    monkeypatch.setattr(RoutedRollouts, "for_process", classmethod(lambda cls, path=None: rollouts))
    return rollouts


# ------------------------------------------------------------------- the choice
def test_without_a_kind_the_reward_is_the_semantic_one_as_before():
    config = PluginConfig.model_validate(SETTINGS)
    assert config.reward == SemanticRewardConfig()
    settings = {"calibration": "quantile", "gate": {"mode": "soft"}}
    written = PluginConfig.model_validate({**SETTINGS, "reward": settings})
    named = PluginConfig.model_validate({**SETTINGS, "reward": {"kind": "semantic", **settings}})
    assert written == named and written.reward == SemanticRewardConfig(**settings)
    assert "kind" not in json.loads(written.model_dump_json())["reward"]  # the file as before


def test_kind_walar_chooses_walars_reward_and_round_trips(tmp_path):
    config = PluginConfig.model_validate({**SETTINGS, "reward": {**WALAR, "alpha": 10.0}})
    assert isinstance(config.reward, WalarRewardConfig)
    assert (config.reward.alpha, config.reward.gate.mismatch_reward) == (10.0, -25.0)
    path = tmp_path / "walar.json"
    path.write_text(config.model_dump_json())
    assert load_plugin_config(path) == config


@pytest.mark.parametrize(
    ("reward", "message"),
    [
        ({"kind": "comet"}, r"kind is one of \['semantic', 'walar'\]"),
        ({"kind": ["walar"]}, "kind is one of"),
        ("walar", "a mapping of settings"),
        ({"kind": "walar", "calibration": "none"}, r"reward\.walar\.calibration"),
        ({"kind": "semantic", "alpha": 20.0}, r"reward\.semantic\.alpha"),
        ({"kind": "walar", "gate": {"mode": "hard"}}, "additive"),
    ],
)
def test_a_bad_reward_choice_names_the_problem(reward, message):
    with pytest.raises(ValidationError, match=message):
        PluginConfig.model_validate({**SETTINGS, "reward": reward})


def test_a_config_naming_checkpoints_loads_walars_models(tmp_path):
    path = tmp_path / "lrpo.json"
    path.write_text(json.dumps({**SETTINGS, "reward": saved_walar_models(tmp_path)}))
    reward = RoutedRollouts(load_plugin_config(path)).reward
    assert isinstance(reward, WalarReward) and isinstance(reward.qe, MetricXScorer)
    result = reward.score([ENGLISH_HYPOTHESIS, GERMAN], SOURCE, "en")
    qe = reward.qe.score([SOURCE], [ENGLISH_HYPOTHESIS])[0]
    assert 0 < qe < 25 and result.reward[0] == pytest.approx(-qe + 20 * result.f1[0])
    assert result.reward[1] == -25.0


# ----------------------------------------------------------------- OpenRLHF
def test_reward_file_scores_walar_through_openrlhfs_executor(
    walar_rollouts, openrlhf_rollout, tokenizer
):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(str(FILES / "lrpo_reward.py"))  # loads reward_func by path
    labels = [walar_label(), walar_label(requested="de"), walar_label(reference=None)]

    outputs = asyncio.run(execute_each(executor, PROMPT, labels, tokenizer, Translator(tokenizer)))
    # The English translation: scored for the English target, -25 for the German one; a label
    # without a source gets 0 (every sample of its prompt alike: no advantage), counted.
    experience = openrlhf_rollout.experiences(outputs)
    assert experience.rewards.tolist() == pytest.approx([SCORED, -25.0, 0.0])
    info = {key: values.tolist() for key, values in experience.info.items()}
    assert set(info) >= WALAR_LOGS and not any(key.startswith("lrpo/") for key in info)
    assert info["walar/qe"] == [QE, 0.0, 0.0]
    assert info["walar/f1"] == pytest.approx([F1, 0.0, 0.0])
    assert info["walar/gate"] == [0.0, -25.0, 0.0]
    assert info["walar/scored_rate"] == [1.0, 0.0, 0.0]
    assert info["walar/gated_rate"] == [0.0, 1.0, 0.0]
    assert info["walar/no_source_rate"] == [0.0, 0.0, 1.0]
    # Only the rollout in its target language went to QE, with its label's source.
    assert walar_rollouts.reward.qe.calls == [(SOURCE, ENGLISH_HYPOTHESIS)]
    assert walar_rollouts.client.assigned == []  # rewards only: the router was not asked


def test_a_non_str_source_is_a_label_error_logged_by_the_reward_file(walar_rollouts, caplog):
    with pytest.raises(LabelError, match="reference"):
        pack_label(language="en", reference=5)  # caught when the data is prepared
    written_by_hand = json.dumps({"language": "en", "reference": 5})
    with caplog.at_level(logging.ERROR), pytest.raises(LabelError, match="reference"):
        reward_func([PROMPT + ENGLISH_HYPOTHESIS], [PROMPT], [written_by_hand])
    assert "lrpo reward_func: LabelError" in caplog.text


def test_a_target_language_the_gate_cannot_check_is_refused(walar_rollouts):
    with pytest.raises(ValueError, match="neither a candidate"):
        reward_func([PROMPT + ENGLISH_HYPOTHESIS], [PROMPT], [walar_label(language="fr")])


def test_the_semantic_default_still_scores_through_score_labelled(walar_rollouts):
    from test_openrlhf import fake_reward

    label = pack_label(language="de", reference="ref")
    scored = score_labelled(fake_reward(), ["de:good", "en:good"], [label, label])
    assert scored.rewards.tolist() == [1.0, 0.0]
    assert set(scored.extra_logs) == {
        f"lrpo/{key}" for key in ("similarity", "calibrated", "gate", "guarded", "routed")
    }


# --------------------------------------------------------------------- verl
@pytest.fixture(scope="module")
def verl_compute_score():
    """``compute_score`` as verl's reward workers load it: by path from the recipe's file."""
    function = load_extern_object(str(VERL_REWARD_FILE), "compute_score")
    assert function is lrpo_verl.compute_score
    return function


@pytest.mark.parametrize("where", ["ground_truth", "extra_info"])
def test_verl_compute_score_reads_walars_label_from_either_field(
    walar_rollouts, verl_compute_score, where
):
    label = walar_label()
    ground_truth, extra_info = (
        (label, {}) if where == "ground_truth" else ("5", {"lrpo_label": label})
    )
    extra_info["raw_prompt"] = [{"role": "user", "content": f"Translate into English: {SOURCE}"}]
    scored = verl_compute_score("walar/de-en", ENGLISH_HYPOTHESIS, ground_truth, extra_info)
    gated = verl_compute_score("walar/de-en", GERMAN, ground_truth, extra_info)
    assert set(scored) == set(gated) == {"score", *WALAR_LOGS}
    assert (scored["score"], scored["walar/qe"], scored["walar/f1"]) == pytest.approx(
        (SCORED, QE, F1)
    )
    assert (gated["score"], gated["walar/gated_rate"]) == (-25.0, 1.0)


def test_verl_bad_rows_are_counted_or_named(walar_rollouts, verl_compute_score):
    missing = verl_compute_score("walar", ENGLISH_HYPOTHESIS, walar_label(reference=None), {})
    assert (missing["score"], missing["walar/no_source_rate"]) == (0.0, 1.0)
    with pytest.raises(LabelError, match=r"reward_model\.ground_truth"):
        verl_compute_score("walar", ENGLISH_HYPOTHESIS, '{"language": "en", "reference": [1]}', {})


def test_a_hypothesis_without_a_target_language_span_aligns_nothing(monkeypatch):
    # The reward's gate favours the target (margin 100) and passes the German text as English;
    # the aligner's span gate (margin 0) finds no English span in it: F1 = 0, R = -QE = -2.
    config = PluginConfig.model_validate({**SETTINGS, "reward": WALAR})
    reward = walar_reward(lookup_aligner(margin=0.0), FixedQE(default=2.0), gate={"margin": 100.0})
    rollouts = RoutedRollouts(config, reward=reward)
    monkeypatch.setattr(RoutedRollouts, "for_process", classmethod(lambda cls, path=None: rollouts))
    scored = lrpo_verl.compute_score("walar", "Die Katzen und die Hunde.", walar_label(), {})
    assert (scored["score"], scored["walar/f1"], scored["walar/scored_rate"]) == (-2.0, 0.0, 1.0)
    assert reward.metric_sums().metrics()["walar/align_no_target_span_rate"] == 1.0
