"""lrpo for verl 0.9: a routed agent loop that scores its own rollouts, by configuration only.

* :class:`LRPOAgentLoop` (rows pick it by ``agent_name``) asks the router service for the
  rollout's language, with the label's ``group`` as the group key (else verl's ``uid``, shared
  by a prompt's ``actor_rollout_ref.rollout.n`` rollouts) and K = that ``n``; it rewrites
  ``raw_prompt``, generates, scores the response in the assigned language, reports the reward
  and sets the output's ``reward_score``. verl computes no reward for a rollout whose agent loop
  set one (in both trainers, ``trainer.use_v1`` true or false), so no reward manager ever sees
  these rollouts: the plugin works the same under every manager. The assignment goes into
  ``extra_fields`` (columns of the batch) and the breakdown into ``reward_extra_info``.
* :func:`compute_score` (``reward.custom_reward_function``) scores rows that another agent loop
  ran (e.g. validation with verl's ``single_turn_agent``) in the prompt's language and reports
  nothing. It is synchronous, so every reward manager can call it (``remote`` refuses async
  reward functions).
* :func:`check_trainer_config` refuses, when the first rollout starts, the settings under which
  verl would change or replace lrpo's reward (a reward model, dapo's overlong penalty, a
  reward manager or reward function of one's own).

Agent-loop workers are separate Ray actors, so the router's owner must be the Ray actor
(``service.backend: ray``). verl's ``validate`` flag does not reach the agent loop, so evaluation
rows keep their language only when labelled ``route=False`` or run by ``single_turn_agent``. See
``recipes/verl/README.md``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

import numpy as np
from omegaconf import DictConfig
from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop
from verl.utils.import_utils import load_extern_object

from lrpo.labelled.labels import LabelError, PackedLabel, unpack_label
from lrpo.router_service import Assignment

from .plugin import RoutedRollouts, group_key

__all__ = [
    "AGENT_NAME",
    "ASSIGNMENT_KEYS",
    "LABEL_KEY",
    "LRPOAgentLoop",
    "assignment_fields",
    "check_trainer_config",
    "compute_score",
    "read_assignment",
    "read_label",
    "route_sample",
]

#: Name the agent loop is registered under (the dataset's ``agent_name``).
AGENT_NAME = "lrpo_agent"
#: ``extra_info`` key of a packed label that replaces ``reward_model.ground_truth``.
LABEL_KEY = "lrpo_label"
#: ``extra_fields`` / ``extra_info`` keys of a rollout's assignment, one per Assignment field.
ASSIGNMENT_KEYS = tuple(f"lrpo_{field.name}" for field in fields(Assignment))

logger = logging.getLogger(__name__)
_WARN_LOCK = threading.Lock()


def read_label(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> PackedLabel:
    """The row's packed label: ``extra_info["lrpo_label"]`` if present, else ``ground_truth``
    (a :class:`~lrpo.labelled.labels.LabelError` names the field read).

    Examples
    --------
    >>> from lrpo.labelled.labels import pack_label
    >>> read_label(pack_label(language="sw", reference="Ni tano."), {"index": 3}).language
    'sw'
    >>> read_label("5", {LABEL_KEY: pack_label(language="de")}).language
    'de'
    >>> read_label("5", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lrpo.labelled.labels.LabelError: reward_model.ground_truth: a label must be the packed ...
    """
    from_extra = extra_info is not None and LABEL_KEY in extra_info
    try:
        return unpack_label(extra_info[LABEL_KEY] if from_extra else ground_truth)
    except LabelError as error:
        source = f"extra_info[{LABEL_KEY!r}]" if from_extra else "reward_model.ground_truth"
        raise LabelError(
            f"{source}: {error}; write rows with recipes/verl/prepare_data.py or "
            "lrpo.labelled.labels.pack_label"
        ) from None


def assignment_fields(assignment: Assignment) -> dict[str, Any]:
    """The assignment as flat scalar ``extra_fields`` (verl copies them into ``extra_info``).

    Examples
    --------
    >>> a = Assignment(ticket="u7@0#0", slot=2, language="ja", prompt_language="de", step=0)
    >>> fields = assignment_fields(a)
    >>> fields["lrpo_language"], fields["lrpo_slot"], read_assignment(fields) == a
    ('ja', 2, True)
    """
    return {f"lrpo_{name}": value for name, value in asdict(assignment).items()}


def read_assignment(extra_info: Mapping[str, Any]) -> Assignment | None:
    """The assignment the agent loop left in ``extra_info``; None when it left none."""
    present = [key for key in ASSIGNMENT_KEYS if key in extra_info]
    if not present:
        return None
    if len(present) < len(ASSIGNMENT_KEYS):
        missing = sorted(set(ASSIGNMENT_KEYS) - set(present))
        raise ValueError(
            f"extra_info has the lrpo assignment fields {present} but lacks {missing}: the "
            f"fields {list(ASSIGNMENT_KEYS)} are written together by {AGENT_NAME!r}"
        )
    return Assignment(**{key.removeprefix("lrpo_"): extra_info[key] for key in ASSIGNMENT_KEYS})


async def route_sample(
    routed: RoutedRollouts, kwargs: Mapping[str, Any], num_rollouts: int
) -> tuple[dict[str, Any], PackedLabel, Assignment]:
    """One rollout's agent-loop kwargs with ``raw_prompt`` rewritten, its label and assignment.

    The group key is the label's ``group`` (stable across runs, so a rerun routes the same), else
    verl's ``uid`` (a fresh random id per prompt and step), else a hash of the prompt. Raises
    ``LabelError`` without a valid packed label, ``GroupMismatchError`` when ``num_rollouts`` is
    not the router's K.
    """
    reward_model = kwargs.get("reward_model")
    ground_truth = reward_model.get("ground_truth") if isinstance(reward_model, Mapping) else None
    label = read_label(ground_truth, kwargs.get("extra_info"))
    prompt = _messages(kwargs["raw_prompt"])
    group = label.group or kwargs.get("uid") or group_key(prompt, label)
    assignment = await routed.assign(str(group), label, num_rollouts)
    return {**kwargs, "raw_prompt": routed.rewrite(prompt, assignment)}, label, assignment


def check_trainer_config(config: DictConfig) -> None:
    """Refuse the verl settings under which verl would change or replace lrpo's reward.

    :class:`LRPOAgentLoop` scores its rollouts itself, so verl calls no reward manager, reward
    function or reward model for them. That is harmless for the managers whose job is calling
    the reward function (``naive``, ``gdpo``, ``rate_limited``, ``remote``, ``dapo`` without
    its overlong buffer), but it would silently drop what the others add; a reward model would
    rescore every rollout of a batch (verl's V1 trainer always does, the legacy one when a batch
    mixes agent loops) without the assignment, so routed rollouts would score 0. Raises
    ``ValueError`` naming each such setting and its fix.
    """
    reward = config.reward
    manager = reward.reward_manager
    overlong = (reward.get("reward_kwargs") or {}).get("overlong_buffer_cfg") or {}
    function = reward.get("custom_reward_function") or {}
    problems = _config_problems(
        reward_model=bool(reward.reward_model.enable),
        manager=(str(manager.source), str(manager.name)),
        overlong_penalty=manager.name == "dapo" and bool(overlong.get("enable")),
        reward_function=(function.get("path"), function.get("name")),
    )
    if problems:
        raise ValueError(
            f"the {AGENT_NAME!r} agent loop scores its rollouts itself, so verl skips its reward "
            "manager, reward function and reward model for them; this config relies on them: "
            + "; ".join(problems)
            + " (see recipes/verl/README.md, 'Reward managers and trainers')"
        )


@functools.cache
def _config_problems(
    *,
    reward_model: bool,
    manager: tuple[str, str],
    overlong_penalty: bool,
    reward_function: tuple[str | None, str | None],
) -> tuple[str, ...]:
    """The refused settings of :func:`check_trainer_config`, found once per process."""
    problems = []
    if reward_model:
        problems.append(
            "reward.reward_model.enable=True: lrpo's reward uses no reward model, and verl would "
            "rescore the rollouts with it; set reward.reward_model.enable=False"
        )
    source, name = manager
    if source != "register":
        problems.append(
            f"reward.reward_manager.source={source} ({name}) would never see an lrpo rollout; "
            "use one of verl's registered managers (reward.reward_manager.source=register)"
        )
    if overlong_penalty:
        problems.append(
            "the dapo reward manager's overlong penalty would not apply to lrpo rollouts; set "
            "reward.reward_kwargs.overlong_buffer_cfg.enable=False (or cap the length with "
            "data.max_response_length)"
        )
    path, function_name = reward_function
    if path and load_extern_object(path, function_name or "compute_score") is not compute_score:
        problems.append(
            f"reward.custom_reward_function {path}:{function_name} is not lrpo's compute_score "
            "and would not score lrpo rollouts; point it at recipes/verl/lrpo_reward.py "
            "(name compute_score) or leave it unset"
        )
    return tuple(problems)


@register(AGENT_NAME)
class LRPOAgentLoop(SingleTurnAgentLoop):
    """verl's single-turn agent loop, asking each rollout in the language the router chose and
    scoring it.

    verl builds one instance per rollout; the router client and the reward are per process.
    ``lrpo_config`` (from the agent-loop YAML entry) names the plugin config when
    ``$LRPO_CONFIG`` is not set in the workers. Every rollout first checks the trainer config
    (:func:`check_trainer_config`, worked out once per process).
    """

    def __init__(self, *args: Any, lrpo_config: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routed = RoutedRollouts.for_process(lrpo_config)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        check_trainer_config(self.config)  # raised here, not in __init__, Hydra wraps no error
        n = int(self.rollout_config.n)
        routed_kwargs, label, assignment = await route_sample(self.routed, kwargs, n)
        output = await super().run(sampling_params, **routed_kwargs)
        # what verl's reward managers would score: the response without special tokens
        response = self.tokenizer.decode(output.response_ids, skip_special_tokens=True)
        # the copy guard compares the answer with the original messages
        prompt = _messages(kwargs["raw_prompt"])
        reward, logs = await self.routed.score(response, label, assignment, prompt=prompt)
        await self.routed.report(assignment, reward)
        output.reward_score = reward
        output.extra_fields.update(assignment_fields(assignment))
        output.extra_fields["reward_extra_info"] = {"score": reward, **logs}
        return output


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    lrpo_config: str | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl's custom reward function, for rows that another agent loop ran: score one rollout in
    its prompt's language; nothing is reported (the router did not route it).

    Returns ``{"score": reward}`` and the reward's per-item logs (the semantic reward's
    ``lrpo/similarity``, ``lrpo/calibrated``, ``lrpo/gate``, ``lrpo/guarded``, ``lrpo/routed``;
    WALAR's ``walar/*``, its source sentence read from the label's ``reference``), the keys
    that :class:`LRPOAgentLoop` gives its rollouts (verl stacks them per key, so a batch may mix
    both). ``data_source`` and other keywords are not used.
    """
    extra_info = extra_info or {}
    label = read_label(ground_truth, extra_info)
    with _WARN_LOCK:  # reward managers call a synchronous reward function from many threads
        _warn_outside_agent_loop()
    # the reward managers that merge the agent loop's extra fields pass the original messages
    prompt = _messages(extra_info.get("raw_prompt"))
    routed = RoutedRollouts.for_process(lrpo_config)
    reward, logs = routed.score_many([solution_str], [label], prompts=[prompt]).item(0)
    return {"score": reward, **logs}


def _messages(raw: Any) -> Any:
    """A chat as a list (verl's batches may hold it as a numpy object array)."""
    return raw.tolist() if isinstance(raw, np.ndarray) else raw


@functools.cache
def _warn_outside_agent_loop() -> None:
    """Say once per process that rollouts are scored without the router."""
    logger.warning(
        "lrpo compute_score: scoring a rollout that the %r agent loop did not run, in its "
        "prompt's language and without telling the router. Expected for rows run by another "
        "agent loop (e.g. validation with single_turn_agent); to route training rows, give them "
        "agent_name=%r (or set actor_rollout_ref.rollout.agent.default_agent_loop=%s).",
        AGENT_NAME,
        AGENT_NAME,
        AGENT_NAME,
    )
