"""lrpo for verl 0.9: a routed agent loop and a reward function, by configuration only.

* :class:`LRPOAgentLoop` (rows pick it by ``agent_name``) asks the router service for the
  rollout's language, with the label's ``group`` as the group key (else verl's ``uid``, shared
  by a prompt's ``actor_rollout_ref.rollout.n`` rollouts) and K = that ``n``; it rewrites
  ``raw_prompt`` and puts the assignment into ``extra_fields``, which verl merges into the reward
  function's ``extra_info``.
* :func:`compute_score` (``reward.custom_reward_function``) scores the response in the assigned
  language and reports the reward to the router service. Without an assignment (a row not run
  by the agent loop) it scores in the prompt's language and reports nothing.

Agent-loop and reward-loop workers are separate Ray actors, so the router's owner must be the
Ray actor (``service.backend: ray``). verl's ``validate`` flag does not reach the agent loop, so
evaluation rows keep their language only when labelled ``route=False`` or run by verl's
``single_turn_agent``. See ``recipes/verl/README.md``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

import numpy as np
from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from lrpo.labelled.labels import LabelError, PackedLabel, unpack_label
from lrpo.router_service import Assignment

from .plugin import RoutedRollouts, group_key

__all__ = [
    "AGENT_NAME",
    "ASSIGNMENT_KEYS",
    "LABEL_KEY",
    "LRPOAgentLoop",
    "assignment_fields",
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
) -> tuple[dict[str, Any], Assignment]:
    """One rollout's assignment, and its agent-loop kwargs with ``raw_prompt`` rewritten.

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
    return {**kwargs, "raw_prompt": routed.rewrite(prompt, assignment)}, assignment


@register(AGENT_NAME)
class LRPOAgentLoop(SingleTurnAgentLoop):
    """verl's single-turn agent loop, asking each rollout in the language the router chose.

    verl builds one instance per rollout; the router client and the reward are per process.
    ``lrpo_config`` (from the agent-loop YAML entry) names the plugin config when
    ``$LRPO_CONFIG`` is not set in the workers.
    """

    def __init__(self, *args: Any, lrpo_config: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routed = RoutedRollouts.for_process(lrpo_config)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        kwargs, assignment = await route_sample(self.routed, kwargs, int(self.rollout_config.n))
        output = await super().run(sampling_params, **kwargs)
        output.extra_fields.update(assignment_fields(assignment))
        return output


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    lrpo_config: str | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl's custom reward function: score one rollout, report it, return the breakdown.

    Returns ``{"score": reward, "lrpo/similarity", "lrpo/calibrated", "lrpo/gate",
    "lrpo/guarded", "lrpo/routed"}``, the same float keys for every rollout (verl stacks them
    per key). ``data_source`` and other keywords are not used.
    """
    extra_info = extra_info or {}
    routed = RoutedRollouts.for_process(lrpo_config)
    label = read_label(ground_truth, extra_info)
    assignment = read_assignment(extra_info)
    if assignment is None:
        _warn_unassigned()
        assignment = Assignment.unrouted(label.language)
    # verl puts the original messages there; the copy guard compares the answer with them
    prompt = _messages(extra_info.get("raw_prompt"))
    reward, logs = await routed.score(solution_str, label, assignment, prompt=prompt)
    await routed.report(assignment, reward)
    return {"score": reward, **logs}


def _messages(raw: Any) -> Any:
    """A chat as a list (verl's batches may hold it as a numpy object array)."""
    return raw.tolist() if isinstance(raw, np.ndarray) else raw


@functools.cache
def _warn_unassigned() -> None:
    """Say once per process that rollouts arrive without a router assignment."""
    logger.warning(
        "lrpo compute_score: a rollout has no router assignment in extra_info, so it is scored "
        "in its prompt's language and not reported. Expected for rows run by another agent "
        "loop (e.g. validation with single_turn_agent); in training, give rows agent_name=%r "
        "(or set actor_rollout_ref.rollout.agent.default_agent_loop=%s), and run a reward "
        "model only with reward.reward_model.enable_resource_pool=True (a colocated one drops "
        "extra_fields); else the router never learns.",
        AGENT_NAME,
        AGENT_NAME,
    )
