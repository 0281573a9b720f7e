"""best_of_n and ``lrpo best-of-n``: reranking by any scorer, calibration per language, the
command end to end on a tiny reward model saved to disk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrpo.calibration import NotFittedError
from lrpo.cli import main
from lrpo.rewards import BatchScorer, ScoreCalibrator, SemanticReward, best_of_n

#: The reward model's bias in this construction: Swahili answers score 2 lower across the board.
OFFSET = {"en": 0.0, "sw": -2.0}


class OffsetScorer:
    """A scorer whose raw score is a candidate's true quality plus its language's offset; the
    quality is the number the candidate text spells ("q0.6"). Records its calls."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, prompts, completions, **columns):
        self.calls.append({"prompts": prompts, "completions": completions, **columns})
        return [
            float(c[1:]) + OFFSET[lang]
            for c, lang in zip(completions, columns["language"], strict=True)
        ]


def offset_calibrator() -> ScoreCalibrator:
    """Fitted on the scorer's scores of a sample with the same quality spread in both languages."""
    quality = np.linspace(0.0, 1.0, 11)
    scores = np.concatenate([quality + OFFSET["en"], quality + OFFSET["sw"]])
    return ScoreCalibrator(bounds=(-3.0, 2.0)).fit(scores, ["en"] * 11 + ["sw"] * 11)


def test_the_best_raw_score_wins_ties_go_first_and_unscored_candidates_never_win() -> None:
    def scorer(prompts, completions, **columns):
        return [
            {"a": 1.0, "b": 3.0, "nan": math.nan, "none": None, "inf": math.inf}[c]
            for c in completions
        ]

    assert isinstance(scorer, BatchScorer)
    choices = best_of_n(
        scorer,
        ["p0", "p1", "p2"],
        [["a", "b", "nan"], ["b", "a", "b"], ["nan", "none", "inf"]],
        ["en", "en", "en"],
    )
    assert [c.index for c in choices] == [1, 0, None]
    assert choices[0].completion == "b" and choices[0].raw == 3.0 and choices[0].language == "en"
    assert choices[0].raw_scores[:2] == [1.0, 3.0] and math.isnan(choices[0].raw_scores[2])
    assert choices[2].completion is None and math.isnan(choices[2].raw)  # inf is no measurement
    assert choices[0].calibrated is None and choices[0].calibrated_scores is None


def test_calibration_per_language_changes_the_winner_of_a_mixed_language_group() -> None:
    prompts, candidates = ["How many?"], [["q0.3", "q0.6"]]
    languages, candidate_languages = ["en"], [["en", "sw"]]
    raw = best_of_n(
        OffsetScorer(), prompts, candidates, languages, candidate_languages=candidate_languages
    )
    assert raw[0].index == 0  # 0.3 beats 0.6 - 2: the Swahili bias decides
    calibrator = offset_calibrator()
    fair = best_of_n(
        OffsetScorer(),
        prompts,
        candidates,
        languages,
        candidate_languages=candidate_languages,
        calibrator=calibrator,
    )[0]
    assert fair.index == 1 and fair.language == "sw"  # the better answer, bias removed
    assert fair.raw == pytest.approx(-1.4)
    np.testing.assert_allclose(fair.calibrated_scores, calibrator([0.3, -1.4], ["en", "sw"]))
    assert fair.calibrated == pytest.approx(fair.calibrated_scores[1])
    # one language per group: the calibrator's map is monotone, the winner stays
    same = best_of_n(OffsetScorer(), prompts, [["q0.3", "q0.6"]], ["sw"], calibrator=calibrator)
    assert same[0].index == 1


def test_the_semantic_reward_reranks_by_its_reference_column() -> None:
    class Letters:
        """Embeds a text as its counts of a and b: the reference 'aab' is closest to 'aaab'."""

        fingerprint, dimension = "letters", 2

        def embed(self, texts):
            counts = np.array([[t.count("a"), t.count("b")] for t in texts], dtype=np.float32)
            return counts / np.linalg.norm(counts, axis=1, keepdims=True).clip(1e-9)

    reward = SemanticReward(
        {"calibration": "none", "gate": None, "pair_key": "requested"}, embedder=Letters()
    )
    choices = best_of_n(
        reward,
        ["p", "q"],
        [["bbb", "aaab", "ab"], ["aaaa", "bbbb"]],
        ["en", "en"],
        columns={"reference": ["aab", "bbbba"]},
    )
    assert [c.index for c in choices] == [1, 1]


def test_chunks_keep_prompts_whole_and_do_not_change_the_choices() -> None:
    candidates = [[f"q0.{i}", f"q0.{9 - i}", "q0.5"] for i in range(7)]
    args = (["p"] * 7, candidates, ["en"] * 7)
    scorer = OffsetScorer()
    small = best_of_n(scorer, *args, chunk_size=4, progress=True)
    assert [len(call["completions"]) for call in scorer.calls] == [6, 6, 6, 3]
    assert small == best_of_n(OffsetScorer(), *args)


def test_bad_inputs_are_refused_before_anything_is_scored() -> None:
    scorer = OffsetScorer()
    with pytest.raises(ValueError, match="languages must have one entry per prompt"):
        best_of_n(scorer, ["p", "q"], [["q1"], ["q1"]], ["en"])
    with pytest.raises(ValueError, match=r"candidates\[1\] must be a non-empty list"):
        best_of_n(scorer, ["p", "q"], [["q1"], []], ["en", "en"])
    with pytest.raises(ValueError, match=r"candidates\[0\] must be a non-empty list"):
        best_of_n(scorer, ["p"], ["q1"], ["en"])
    with pytest.raises(ValueError, match=r"candidate_languages\[0\] must have one language"):
        best_of_n(scorer, ["p"], [["q1", "q2"]], ["en"], candidate_languages=[["en"]])
    with pytest.raises(ValueError, match="reference must have one entry per prompt"):
        best_of_n(scorer, ["p"], [["q1"]], ["en"], columns={"reference": []})
    with pytest.raises(ValueError, match=r"columns \['language'\] are what best_of_n passes"):
        best_of_n(scorer, ["p"], [["q1"]], ["en"], columns={"language": ["de"]})
    with pytest.raises(NotFittedError):
        best_of_n(scorer, ["p"], [["q1"]], ["en"], calibrator=ScoreCalibrator())
    with pytest.raises(TypeError, match="must be a ScoreCalibrator"):
        best_of_n(scorer, ["p"], [["q1"]], ["en"], calibrator=lambda scores, langs: scores)
    with pytest.raises(ValueError, match="chunk_size"):
        best_of_n(scorer, ["p"], [["q1"]], ["en"], chunk_size=0)
    assert scorer.calls == []
    with pytest.raises(ValueError, match="returned 1 scores for 2 candidates"):
        best_of_n(lambda prompts, completions, **_: [1.0], ["p"], [["a", "b"]], ["en"])


@pytest.fixture(scope="module")
def saved_reward_model(tmp_path_factory) -> tuple[Path, object]:
    """A tiny chat reward model saved to disk, and its scorer (for the expected scores)."""
    pytest.importorskip("transformers")
    pytest.importorskip("trl")
    from test_reward_model import tiny_chat_reward_model

    from lrpo.rewards import RewardModelScorer

    model, tokenizer = tiny_chat_reward_model()
    path = tmp_path_factory.mktemp("reward-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, RewardModelScorer(model, tokenizer)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    groups=st.lists(
        st.tuples(
            st.text(alphabet=st.characters(exclude_categories=()), max_size=50),
            st.lists(
                st.text(alphabet=st.characters(exclude_categories=()), max_size=50),
                min_size=1,
                max_size=4,
            ),
        ),
        max_size=3,
    )
)
def test_one_choice_per_prompt_and_one_score_per_candidate_for_any_text(
    saved_reward_model, groups
) -> None:
    _, scorer = saved_reward_model
    prompts, candidates = [p for p, _ in groups], [c for _, c in groups]
    choices = best_of_n(
        scorer, prompts, candidates, ["en"] * len(groups), calibrator=offset_calibrator()
    )
    assert len(choices) == len(groups)
    for choice, group in zip(choices, candidates, strict=True):
        assert len(choice.raw_scores) == len(choice.calibrated_scores) == len(group)
        assert choice.completion == group[choice.index]  # every str gets a finite score


# ------------------------------------------------------------------ the command
def test_the_command_keeps_the_reward_models_best_calibrated_candidate(
    saved_reward_model, tmp_path, capsys
) -> None:
    path, scorer = saved_reward_model
    rows = [
        {"id": 0, "prompt": "Wie viel ist zwei plus drei?", "language": "de",
         "candidates": ["Fünf.", "Die Antwort ist fünf.", "Sechs."]},
        {"id": 1, "prompt": "What is two plus three?", "language": "en",
         "candidates": ["Five.", "Jibu ni tano."], "candidate_languages": ["en", "sw"]},
    ]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n\n")
    raw = scorer.score([rows[1]["prompt"]] * 2, rows[1]["candidates"])
    # A calibrator that sees the raw winner's language as favoured by 1 and the other's as
    # penalised by 1: calibrated, the raw loser of the mixed group wins.
    winner = int(np.argmax(raw))
    loser = 1 - winner
    langs = rows[1]["candidate_languages"]
    sample = [raw[winner] + 0.5, raw[winner] + 1.5, raw[loser] - 1.5, raw[loser] - 0.5]
    calibrator = ScoreCalibrator(bounds=(-10.0, 10.0)).fit(
        sample, [langs[winner]] * 2 + [langs[loser]] * 2
    )
    state = tmp_path / "calibrator.json"
    state.write_text(json.dumps(calibrator.state_dict()))
    out = tmp_path / "out.jsonl"
    argv = ["best-of-n", str(source), "--reward-model", str(path), "--out", str(out)]
    assert main([*argv, "--calibrator", str(state), "--device", "cpu", "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2 prompts, 5 candidates; 0 prompts without a finite score" in printed
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    expected = scorer.score([rows[0]["prompt"]] * 3, rows[0]["candidates"])
    assert first["id"] == 0 and "candidates" not in first
    np.testing.assert_allclose(first["raw_scores"], expected, atol=1e-6)
    assert first["index"] == int(np.argmax(expected))  # German only: the raw order stays
    assert first["chosen"] == rows[0]["candidates"][first["index"]]
    assert second["index"] == loser and second["chosen_language"] == langs[loser]
    np.testing.assert_allclose(second["calibrated_scores"], calibrator(raw, langs), atol=1e-6)
    assert second["raw"] == pytest.approx(raw[loser], abs=1e-6)

    # Without a calibrator the raw winner is kept and no calibrated scores are written.
    assert main([*argv, "--no-progress"]) == 0
    second = [json.loads(line) for line in out.read_text().splitlines()][1]
    assert second["index"] == winner and second["calibrated_scores"] is None


_ONE_ROW = '{"prompt": "p", "language": "en", "candidates": ["a"]}'


@pytest.mark.parametrize(
    ("lines", "extra", "message"),
    [
        (["{not json"], [], "in.jsonl:1: not JSON"),
        (['{"prompt": "p", "language": "en"}'], [], "in.jsonl:1: needs an object"),
        (['{"prompt": "p", "language": "en", "candidates": []}'], [], "must be a non-empty list"),
        ([_ONE_ROW], ["--calibrator", "missing.json"], "bad calibrator file"),
        ([_ONE_ROW], ["--batch-size", "0"], "must be >= 1"),
    ],
)
def test_the_command_names_the_bad_input(
    saved_reward_model, tmp_path, capsys, lines, extra, message
) -> None:
    path, _ = saved_reward_model
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines))
    argv = ["best-of-n", str(source), "--reward-model", str(path), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_command_names_a_reward_model_it_cannot_load(tmp_path, capsys) -> None:
    pytest.importorskip("transformers")
    source = tmp_path / "in.jsonl"
    source.write_text(_ONE_ROW + "\n")
    argv = ["best-of-n", str(source), "--reward-model", str(tmp_path / "nowhere"), "--out", "o"]
    with pytest.raises(SystemExit):
        main(argv)
    assert "cannot load the reward model" in capsys.readouterr().err
