"""Packed labels, labelled scoring and the shared plugin pieces of OpenRLHF and verl."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_semantic_reward import RAW, AngleEmbedder, FakeGate

from lrpo.integrations.plugin import (
    CONFIG_ENV,
    PluginConfig,
    RoutedRollouts,
    group_key,
    load_plugin_config,
)
from lrpo.labelled.labels import LabelError, pack_label, unpack_label
from lrpo.labelled.scoring import score_labelled
from lrpo.rewards import SemanticReward

SETTINGS = {
    "router": {
        "languages": ["de", "en", "sw"],
        "num_rollouts": 4,
        "num_on_policy": 1,
        "update_period": 1,
        "seed": 5,
    },
    "service": {"groups_per_step": 2},
}


# ----------------------------------------------------------------------- labels
@given(
    language=st.sampled_from(["de", "en", "ja", "sw"]),
    theme=st.none() | st.text(min_size=1) | st.lists(st.text(min_size=1), max_size=3),
    reference=st.none() | st.text(),
    group=st.none() | st.text(min_size=1),
)
def test_labels_round_trip(language, theme, reference, group):
    label = unpack_label(
        pack_label(language=language, theme=theme, reference=reference, group=group)
    )
    themes = () if theme is None else (theme,) if isinstance(theme, str) else tuple(theme)
    assert (label.language, label.themes, label.reference, label.group) == (
        language,
        themes,
        reference,
        group,
    )
    assert label.context.language == language and label.context.themes == themes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Paris", "must be the packed JSON"),
        ('["de"]', "must be the packed JSON"),
        ('{"reference": "x"}', "must be the packed JSON"),
        (42, "must be a string"),
        ('{"language": "DE"}', "did you mean 'de'"),
        ('{"language": "de", "requested": "xx"}', "requested"),
        ('{"language": "de", "colour": "red"}', "colour: Extra inputs are not permitted"),
        ('{"language": "de", "route": "sometimes"}', "route"),
    ],
)
def test_bad_labels_name_the_problem(text, message):
    with pytest.raises(LabelError, match=message):
        unpack_label(text)


def test_pack_label_validates_at_data_preparation():
    with pytest.raises(LabelError, match="did you mean"):
        pack_label(language="EN")
    assert json.loads(pack_label(language="de")) == {"language": "de"}


# ---------------------------------------------------------------------- scoring
def angle_reward() -> SemanticReward:
    """Similarity set by hand: 'good' answers point at the reference, 'bad' ones away."""
    angles = {"ref": 0.0, "de:good": 0.0, "en:good": 0.0, "de:bad": np.pi / 2}
    return SemanticReward(
        {**RAW, "gate": {"mode": "hard"}, "pair_key": "requested"},
        embedder=AngleEmbedder(angles),
        gate=FakeGate(),
    )


def test_score_labelled_reads_the_requested_language_and_reference():
    labels = [pack_label(language="de", reference="ref")] * 3 + [
        pack_label(language="de", reference="ref", requested="en")
    ]
    scored = score_labelled(
        angle_reward(),
        ["de:good", "de:bad", "en:good", "en:good"],
        labels,
        requested=[None, None, "en", None],
    )
    # (cos + 1) / 2 of the angle, times the gate (1 when the answer is in the requested language)
    np.testing.assert_allclose(scored.rewards, [1.0, 0.5, 1.0, 1.0])
    assert scored.extra_logs["lrpo/routed"] == [0.0, 0.0, 1.0, 1.0]
    answer = scored.response()
    assert answer["rewards"] == answer["scores"] == scored.rewards.tolist()
    json.dumps(answer, allow_nan=False)
    reward, logs = scored.item(1)
    assert reward == 0.5 and logs["lrpo/gate"] == 1.0


def test_score_labelled_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 labels for 1 responses"):
        score_labelled(angle_reward(), ["x"], [pack_label(language="de")] * 2)


# ----------------------------------------------------------------------- plugin
def test_plugin_config_from_yaml_and_json(tmp_path, monkeypatch):
    yaml_file = tmp_path / "lrpo.yaml"
    yaml_file.write_text(
        "router:\n  languages: [de, en, sw]\n  num_rollouts: 4\n  num_on_policy: 1\n"
        "service:\n  backend: ray\n  groups_per_step: 8\ndirective: native\n"
    )
    config = load_plugin_config(yaml_file)
    assert config.service.backend == "ray" and config.directive == "native"
    json_file = tmp_path / "lrpo.json"
    json_file.write_text(json.dumps(SETTINGS))
    monkeypatch.setenv(CONFIG_ENV, str(json_file))
    assert load_plugin_config() == PluginConfig.model_validate(SETTINGS)
    monkeypatch.delenv(CONFIG_ENV)
    with pytest.raises(FileNotFoundError, match=CONFIG_ENV):
        load_plugin_config()
    with pytest.raises(ValueError, match=r"no longer a top-level key.*router: \{policy: \{kind"):
        PluginConfig.model_validate({**SETTINGS, "policy": "lrpo"})


@pytest.mark.parametrize(
    ("policy", "router_class", "setting"),
    [
        ({"kind": "thompson", "prior_strength": 4.0}, "ThompsonRouter", ("prior_strength", 4.0)),
        ({"kind": "dominant", "language": "en"}, "DominantLanguageRouter", ("language", "en")),
        ({"kind": "fixed", "distribution": {"sw": 1.0}}, "FixedDistributionRouter", None),
        ({"kind": "uniform"}, "UniformRouter", None),
        ({}, "LanguageRouter", None),  # no policy: the LRPO router (ema)
    ],
)
def test_plugin_config_sets_any_policy_and_its_settings(policy, router_class, setting):
    router_settings = SETTINGS["router"] | ({"policy": policy} if policy else {})
    config = PluginConfig.model_validate({**SETTINGS, "router": router_settings})
    router = config.make_router()
    assert type(router).__name__ == router_class
    if setting is not None:
        assert getattr(router.policy, setting[0]) == setting[1]
    japanese = router_settings | {"policy": {"kind": "dominant", "language": "ja"}}
    with pytest.raises(ValueError, match=r"policy\.language 'ja' is not an arm"):
        PluginConfig.model_validate({**SETTINGS, "router": japanese})


def test_group_key_is_the_label_group_or_a_stable_hash():
    label = unpack_label(pack_label(language="de"))
    assert group_key("Wie spät?", label) == group_key("Wie spät?", label)
    assert group_key("Wie spät?", label) != group_key("Wie früh?", label)
    assert group_key([{"role": "user", "content": "x"}], label).startswith("prompt-")
    assert group_key("x", unpack_label(pack_label(language="de", group="q7"))) == "q7"


def test_routed_rollouts_route_rewrite_score_and_report():
    config = PluginConfig.model_validate(
        {**SETTINGS, "service": {"name": "test-plugin", "groups_per_step": 1}}
    )
    rollouts = RoutedRollouts(config, reward=angle_reward())
    label = unpack_label(pack_label(language="de", reference="ref"))

    async def one_group():
        got = await asyncio.gather(*(rollouts.assign("q", label) for _ in range(4)))
        scored = await asyncio.gather(
            *(rollouts.score(f"{a.language}:good", label, a) for a in got)
        )
        for a, (reward, _) in zip(got, scored, strict=True):
            await rollouts.report(a, reward)
        return got

    assignments = asyncio.run(one_group())
    # the four responses were scored as one batch: one embedder call for them, one for the ref
    assert [len(call) for call in rollouts.reward._completion_embedder.calls] == [4, 1]
    plan = config.make_router().route([label.context], keys=["q@0#0"])
    assert [a.language for a in assignments] == plan.languages[0].tolist()
    for a in assignments:
        rewritten = rollouts.rewrite("Frage?", a)
        tag = "" if a.language == "de" else f"\n<|out_lang_{a.language}|>"
        assert rewritten == "Frage?" + tag
    assert rollouts.client.service.router.step == 1


def test_unrouted_labels_keep_their_language_and_report_nothing():
    config = PluginConfig.model_validate(
        {**SETTINGS, "service": {"name": "test-unrouted", "groups_per_step": 1}}
    )
    rollouts = RoutedRollouts(config, reward=angle_reward())
    label = unpack_label(pack_label(language="sw", route=False))
    assignment = asyncio.run(rollouts.assign("q", label))
    assert (assignment.language, assignment.routed, assignment.ticket) == ("sw", False, "")
    asyncio.run(rollouts.report(assignment, 1.0))
    assert rollouts._client is None  # the router service was never asked
