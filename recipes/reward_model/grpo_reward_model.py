"""GRPO with one reward model scoring routed rollouts in several languages (seed 004 + LRPO).

TRL's GRPOTrainer and lrpo's LanguageRouterCallback route each group's rollouts to several
languages; the reward is a :class:`lrpo.rewards.SemanticReward` whose scalar score is a
:class:`lrpo.rewards.RewardModelScorer` (trained in one language), calibrated per answer
language by a :class:`lrpo.rewards.ScoreCalibrator` and gated by the answer's language. The
callback passes each rollout's requested language as the ``language`` column; the reward
calibrates by the language the gate detects (the requested one with ``--no-gate``).

Offline smoke run (a tiny random policy and reward model built locally, no network, seconds):

    python recipes/reward_model/grpo_reward_model.py --tiny

A real run (needs the network for the models):

    lrpo calibrate-scores sample.jsonl --reward-model Skywork/Skywork-Reward-V2-Qwen3-0.6B \\
        --out calibrator.json
    python recipes/reward_model/grpo_reward_model.py --model Qwen/Qwen2.5-0.5B-Instruct \\
        --reward-model Skywork/Skywork-Reward-V2-Qwen3-0.6B --calibrator calibrator.json \\
        --languages de,ja,sw --per-language 50 --max-steps 200 --max-completion-length 256

``sample.jsonl`` holds the policy's own answers (``prompt``, ``completion``, ``language``), e.g.
the ``sample.jsonl`` that ``recipes/reward_model/best_of_n.py`` writes. Without
``--calibrator`` the calibrator is fitted on the reward model's scores of GSM-symbolic's
reference answers in each language: the same answers in every language, so what the fit removes
is the reward model's preference for a language, not a difference in quality.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tyro
from rm_common import gsm_rows, load_policy, tiny_reward_model, tiny_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trl"))
from grpo_lrpo import routed_trainer, train  # the TRL recipe's trainer, callback and loop


@dataclass
class Args:
    tiny: bool = False  # tiny local policy and reward model, no network
    model: str = "Qwen/Qwen2.5-0.5B-Instruct"  # policy (ignored with --tiny)
    reward_model: str = "Skywork/Skywork-Reward-V2-Qwen3-0.6B"  # RM (ignored with --tiny)
    calibrator: str | None = None  # `lrpo calibrate-scores` file; default: fit on references
    languages: str = "de,ja,sw"  # router arms and prompt languages (comma-separated codes)
    per_language: int = 4  # GSM-symbolic questions per language
    gate: bool = True  # zero the reward of a rollout not in its requested language
    num_generations: int = 4  # K: rollouts per prompt
    num_on_policy: int = 1  # K_on: rollouts kept in the prompt's language
    directive: str = "tag"  # tag | english | native | system
    max_steps: int = 2  # optimisation steps
    max_completion_length: int = 8  # tokens per completion
    output_dir: str = "grpo-reward-model-out"  # checkpoints (with the router state) and logs
    use_vllm: bool = False  # generate with vLLM
    vllm_mode: str = "colocate"  # colocate | server
    seed: int = 0  # trainer, router and tiny-model seed


def parse_args(argv: list[str] | None = None) -> Args:
    return tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])


def reference_calibrator(scorer, rows: list[dict]):
    """A calibrator fitted on the reward model's scores of the parallel reference answers."""
    import numpy as np

    from lrpo.rewards import ScoreCalibrator
    from lrpo.rewards.best_of_n import score_sample

    questions = [row["question"] for row in rows]
    answers = [row["answer"] for row in rows]
    languages = np.array([row["language"] for row in rows])
    scores = score_sample(scorer, questions, answers, languages.tolist(), progress=True)
    finite = np.isfinite(scores)
    return ScoreCalibrator().fit(scores[finite], languages[finite])


def build(args: Args):
    """The trainer (its router's callback built and added), the callback and the reward."""
    from datasets import Dataset

    from lrpo.rewards import RewardModelScorer, ScoreCalibrator, SemanticReward

    languages = args.languages.split(",")
    rows = gsm_rows(languages, args.per_language)
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": row["question"]}],
                "language": row["language"],
                "theme": "Reasoning / Logic",
                "id": row["id"],
            }
            for row in rows
        ]
    )
    model, tokenizer = load_policy(args.model, tiny=args.tiny, texts=tiny_texts(rows))
    if args.tiny:
        scorer = RewardModelScorer(*tiny_reward_model(tiny_texts(rows), seed=args.seed))
    else:
        scorer = RewardModelScorer.from_pretrained(args.reward_model)
    if args.calibrator is None:
        calibrator = reference_calibrator(scorer, rows)
    else:
        calibrator = ScoreCalibrator.load(args.calibrator)
    missing = sorted(set(languages) - set(calibrator.languages_))
    if missing:  # they would get the pooled statistics: the bias the calibrator is there to remove
        raise ValueError(
            f"the calibrator was fitted without {missing} (it has {list(calibrator.languages_)}): "
            "fit it on a sample with every routed language"
        )
    settings = {"gate": {"mode": "hard"}} if args.gate else {"gate": None, "pair_key": "requested"}
    reward = SemanticReward(settings, scorer=scorer, score_calibrator=calibrator)

    trainer, callback = routed_trainer(args, model, tokenizer, dataset, reward, languages)
    return trainer, callback, reward


def main(argv: list[str] | None = None) -> dict:
    start = time.perf_counter()
    trainer, callback, reward = build(parse_args(argv))
    summary = train(trainer, callback, start, shown=("router/", "reward", "gate/", "guard/"))
    summary["reward_model"] = reward.scorer.metric_sums().metrics()
    print(summary["reward_model"])
    return summary


if __name__ == "__main__":
    main()
