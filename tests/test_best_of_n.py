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
from lrpo.rewards.best_of_n import score_sample

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
    assert "cannot load the scorer" in capsys.readouterr().err


# --------------------------------------------------- the calibrator and its command
def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


#: Swahili answers scored 2 lower than the same English ones, and two unusable scores.
SHIFTED = [
    {"prompt": "p", "completion": "a", "language": "en", "score": 1.0},
    {"prompt": "p", "completion": "b", "language": "en", "score": 3.0},
    {"prompt": "p", "completion": "a", "language": "sw", "score": -1.0},
    {"prompt": "p", "completion": "b", "language": "sw", "score": 1.0},
    {"prompt": "p", "completion": "c", "language": "sw", "score": None},
]


def test_the_calibrator_command_removes_a_languages_shift(tmp_path, capsys) -> None:
    nan = '{"prompt": "p", "completion": "d", "language": "en", "score": NaN}'  # Python's JSON
    lines = [json.dumps(row) for row in SHIFTED] + [nan]
    source = tmp_path / "sample.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "calibrator.json"
    argv = ["calibrate-scores", str(source), "--out", str(out), "--bounds", "-2", "4"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 answers in 2 languages; 2 with a NaN score left out" in printed
    calibrator = ScoreCalibrator.load(out)
    assert calibrator.languages_ == ("en", "sw") and calibrator.get_params()["bounds"] == [-2, 4]
    # By hand: u = (x + 2) / 3 - 1; mean u: en 1/3, sw -1/3, pooled 0; r = (u - m + 1) / 2.
    got = calibrator([1.0, 3.0, -1.0, 1.0], ["en", "en", "sw", "sw"])
    np.testing.assert_allclose(got, [1 / 3, 2 / 3, 1 / 3, 2 / 3], atol=1e-12)
    # One raw score of 1: a middling English answer, the best Swahili one.
    assert calibrator([1.0], ["sw"])[0] > calibrator([1.0], ["en"])[0]


def test_the_calibrator_command_scores_answers_without_a_score_with_the_reward_model(
    saved_reward_model, tmp_path, capsys
) -> None:
    path, scorer = saved_reward_model
    rows = [
        {"prompt": "What is two plus three?", "completion": "Five.", "language": "en"},
        {"prompt": "What is two plus three?", "completion": "Six.", "language": "en"},
        {"prompt": "Mbili jumlisha tatu?", "completion": "Tano.", "language": "sw"},
        {"prompt": "Mbili jumlisha tatu?", "completion": "Jibu ni tano.", "language": "sw"},
        {"prompt": "Mbili jumlisha tatu?", "completion": "Sita.", "language": "sw", "score": 9.0},
    ]
    source = write_jsonl(tmp_path / "sample.jsonl", rows)
    out, scored = tmp_path / "calibrator.json", tmp_path / "scored.jsonl"
    argv = ["calibrate-scores", str(source), "--out", str(out), "--scores-out", str(scored)]
    assert (
        main([*argv, "--reward-model", str(path), "--device", "cpu", "--method", "quantile"]) == 0
    )
    assert "5 answers in 2 languages; 0 with a NaN score left out" in capsys.readouterr().out
    expected = scorer.score([r["prompt"] for r in rows[:4]], [r["completion"] for r in rows[:4]])
    written = [json.loads(line)["score"] for line in scored.read_text().splitlines()]
    np.testing.assert_allclose(written, [*expected, 9.0], atol=1e-6)
    calibrator = ScoreCalibrator.load(out)
    direct = ScoreCalibrator(method="quantile").fit(written, [r["language"] for r in rows])
    probe = [float(expected.min()), float(expected.mean()), 9.0]
    np.testing.assert_allclose(calibrator(probe, ["sw"] * 3), direct(probe, ["sw"] * 3))


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        ([{"prompt": "p", "completion": "a", "score": 1.0}], [], "sample.jsonl:1: needs an object"
         " with prompt, completion, language (missing: language)"),
        ([{**SHIFTED[0], "language": "xx"}, SHIFTED[1]], [], "unknown language code 'xx'"),
        ([{"prompt": "p", "completion": "a", "language": "en"}], [],
         "1 answers have no score (the first: record 1); give --reward-model, --qe-model or"),
        ([{**SHIFTED[0], "score": "high"}], [], "record 1: score must be a number or null"),
        ([SHIFTED[4]], [], "no answer has a finite score"),
        ([SHIFTED[0], SHIFTED[0]], [], "nothing to calibrate"),
        (SHIFTED, ["--bounds", "1", "0"], "bounds must be two finite numbers"),
    ],
)  # fmt: skip
def test_the_calibrator_command_names_the_bad_input(tmp_path, capsys, rows, extra, message):
    source = write_jsonl(tmp_path / "sample.jsonl", rows)
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate-scores", str(source), "--out", str(tmp_path / "c.json"), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_a_calibrator_round_trips_through_its_file_and_refuses_other_files(tmp_path) -> None:
    calibrator = offset_calibrator()
    path = calibrator.save(tmp_path / "calibrator.json")
    again = ScoreCalibrator.load(path)
    probe = ([0.2, -1.7, 0.9, math.nan], ["en", "sw", "de", "en"])
    np.testing.assert_array_equal(again(*probe), calibrator(*probe))
    assert again.languages_ == ("en", "sw")
    counts = again.metric_sums(reset=True).metrics()
    assert counts["calibration/unknown_language/de"] == 1 and counts["calibration/nan_scores"] == 1
    assert again.metric_sums().metrics()["calibration/scores"] == 0  # reset: a new window
    (tmp_path / "table.json").write_text('{"languages": ["en"]}')
    with pytest.raises(ValueError, match="is not a ScoreCalibrator state"):
        ScoreCalibrator.load(tmp_path / "table.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        ScoreCalibrator.load(tmp_path / "broken.json")


def test_score_sample_scores_in_chunks_and_marks_unscored_answers_nan() -> None:
    scorer = OffsetScorer()
    answers = ["q0.1", "q0.2", "q0.3", "q0.4", "q0.5"]
    languages = ["en", "sw", "en", "sw", "en"]
    scores = score_sample(scorer, ["p"] * 5, answers, languages, chunk_size=2, progress=True)
    np.testing.assert_allclose(scores, [0.1, -1.8, 0.3, -1.6, 0.5])
    assert [len(call["completions"]) for call in scorer.calls] == [2, 2, 1]

    def unusable(prompts, completions, **_):
        return [None, math.inf]

    assert np.isnan(score_sample(unusable, ["p", "p"], ["a", "b"], ["en", "en"])).all()
    with pytest.raises(ValueError, match="one entry per answer"):
        score_sample(scorer, ["p"], ["a", "b"], ["en", "en"])
    with pytest.raises(ValueError, match="chunk_size"):
        score_sample(scorer, ["p"], ["a"], ["en"], chunk_size=0)


def test_best_of_n_warns_of_languages_outside_the_calibrators_sample(
    saved_reward_model, tmp_path, capsys
) -> None:
    path, _ = saved_reward_model
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {
                "prompt": "p",
                "language": "en",
                "candidates": ["a", "b"],
                "candidate_languages": ["en", "de"],
            }
        ],
    )
    state = offset_calibrator().save(tmp_path / "calibrator.json")
    argv = ["best-of-n", str(source), "--reward-model", str(path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--calibrator", str(state), "--no-progress"]) == 0
    assert "outside the calibrator's sample got its pooled statistics: de (1)" in (
        capsys.readouterr().err
    )


# ----------------------------------------------------------- other scorers, same command
def test_the_command_ranks_translations_by_metricx_qe_against_their_source(tmp_path, capsys):
    """--qe-model: each candidate's raw score is -QE(source, candidate); the line's source is
    read when given, else its prompt."""
    from _walar_setup import saved_walar_models

    from lrpo.rewards import MetricXScorer

    folder = saved_walar_models(tmp_path)["qe_model"]
    rows = [
        {"prompt": "Translate: Katzen schlafen.", "source": "Katzen schlafen.",
         "language": "en", "candidates": ["Cats sleep.", "Dogs run fast.", "Katzen schlafen."]},
        {"prompt": "Hunde laufen.", "language": "en", "candidates": ["Dogs run.", "Cats."]},
    ]  # fmt: skip
    out = tmp_path / "out.jsonl"
    argv = ["best-of-n", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--out", str(out)]
    options = ["--qe-model", folder, "--qe-tokenizer", folder, "--device", "cpu", "--no-progress"]
    assert main([*argv, *options]) == 0
    assert "2 prompts, 5 candidates" in capsys.readouterr().out
    qe = MetricXScorer.from_pretrained(folder, tokenizer=folder, device="cpu")
    for row, line in zip(rows, out.read_text().splitlines(), strict=True):
        written = json.loads(line)
        source = row.get("source", row["prompt"])
        expected = -qe.score([source] * len(row["candidates"]), row["candidates"])
        np.testing.assert_allclose(written["raw_scores"], expected, atol=1e-5)
        assert written["index"] == int(np.argmax(expected))


def test_the_command_ranks_by_the_semantic_reward_against_the_reference(tmp_path, capsys):
    """--semantic CONFIG: candidates scored by lrpo's semantic reward against the line's
    reference (here raw similarity, no gate): the reference's own words win."""
    rows = [
        {"prompt": "What is 6 x 7?", "language": "en", "reference": "The answer is 42.",
         "candidates": ["I like turtles.", "The answer is 42.", "Forty-two is the answer."]},
    ]  # fmt: skip
    config = tmp_path / "semantic.yaml"
    config.write_text("calibration: none\ngate: null\npair_key: requested\n")
    out = tmp_path / "out.jsonl"
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    argv = ["best-of-n", str(source), "--out", str(out), "--semantic", str(config)]
    assert main([*argv, "--no-progress"]) == 0
    written = json.loads(out.read_text())
    assert written["index"] == 1 and written["raw_scores"][1] == pytest.approx(1.0, abs=1e-3)
    assert written["raw_scores"][0] < written["raw_scores"][2]

    del rows[0]["reference"]
    write_jsonl(source, rows)
    with pytest.raises(SystemExit):
        main(argv)
    assert "in.jsonl:1: --semantic needs a reference on every line" in capsys.readouterr().err


def test_calibrate_scores_scores_unscored_answers_with_metricx(tmp_path):
    from _walar_setup import saved_walar_models

    from lrpo.rewards import MetricXScorer

    folder = saved_walar_models(tmp_path)["qe_model"]
    rows = [
        {"prompt": "Katzen schlafen.", "completion": "Cats sleep.", "language": "en"},
        {"prompt": "Katzen schlafen.", "completion": "Dogs run.", "language": "en"},
        {"prompt": "Cats sleep.", "completion": "Paka hulala.", "language": "sw"},
        {"prompt": "Cats sleep.", "completion": "Mbwa.", "language": "sw"},
    ]
    scores = tmp_path / "scores.jsonl"
    argv = ["calibrate-scores", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--out"]
    argv += [str(tmp_path / "cal.json"), "--scores-out", str(scores), "--no-progress"]
    assert main([*argv, "--qe-model", folder, "--qe-tokenizer", folder, "--device", "cpu"]) == 0
    qe = MetricXScorer.from_pretrained(folder, tokenizer=folder, device="cpu")
    expected = -qe.score([r["prompt"] for r in rows], [r["completion"] for r in rows])
    written = [json.loads(line)["score"] for line in scores.read_text().splitlines()]
    np.testing.assert_allclose(written, expected, atol=1e-5)
    assert ScoreCalibrator.load(tmp_path / "cal.json").languages_ == ("en", "sw")
