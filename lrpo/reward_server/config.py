"""`ServeConfig`: what ``lrpo serve`` listens on, how it scores, and what it refuses.

The limits exist because the server faces a trainer's workers over the network: one bad or
stalled client must neither stall the embedder that every other worker waits on nor hold
connections open.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lrpo.rewards import SemanticRewardConfig
from lrpo.rewards.choice import RewardConfig

__all__ = ["ServeConfig"]

_MIB = 1 << 20


class ServeConfig(BaseModel):
    """Settings of the reward server (``lrpo serve --config FILE``, YAML or JSON).

    Examples
    --------
    >>> config = ServeConfig(port=5000, reward={"calibration": "quantile"})
    >>> config.reward.calibration, config.max_batch_items
    ('quantile', 4096)
    >>> ServeConfig(reward={"kind": "walar", "alpha": 10}).reward.alpha
    10.0
    >>> ServeConfig(max_items_per_request=10_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ServeConfig
    ...
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    # ---------------------------------------------------------------- network
    host: str = Field("127.0.0.1", min_length=1)
    """Address to bind; '0.0.0.0' serves other machines."""
    port: int = Field(5000, ge=0, le=65535)
    """TCP port (0: any free port)."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """uvicorn's log level ('info' logs one line per request)."""
    # ----------------------------------------------------------------- reward
    reward: RewardConfig = Field(default_factory=SemanticRewardConfig)
    """What every request is scored with: lrpo's semantic reward (default, no ``kind``) or WALAR's
    (``kind: walar``, the source sentence in each label's ``reference``)."""
    # ----------------------------------------------------------------- limits
    max_body_bytes: int = Field(64 * _MIB, ge=1)
    """Largest request body; larger ones get 413 unread."""
    max_items_per_request: int = Field(4096, ge=1)
    """Most rollouts in one request; more get 413."""
    body_timeout_s: float = Field(30.0, gt=0.0)
    """Seconds a body may take after its headers; else 408 and close."""
    # --------------------------------------------------------- micro-batching
    max_batch_items: int = Field(4096, ge=1)
    """Most rollouts merged into one call of the reward."""
    batch_wait_ms: float = Field(5.0, ge=0.0)
    """How long the first request of a batch waits for others; those arriving while a batch is
    scored join the next one without waiting.
    """

    @model_validator(mode="after")
    def _check(self) -> ServeConfig:
        if self.max_items_per_request > self.max_batch_items:
            raise ValueError(
                f"max_items_per_request={self.max_items_per_request} exceeds max_batch_items="
                f"{self.max_batch_items}: a request is never split across reward calls; raise "
                "max_batch_items or lower max_items_per_request"
            )
        return self

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServeConfig:
        """Read a ``.yaml``/``.yml`` or ``.json`` file; ``overrides`` (e.g. the CLI's port) win."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise ValueError(f"config file {path} must end in .yaml, .yml or .json")
        text = path.read_text(encoding="utf-8")
        try:
            fields = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError) as error:
            kind = "JSON" if suffix == ".json" else "YAML"
            raise ValueError(f"config file {path} is not valid {kind}: {error}") from None
        if fields is None:  # an empty YAML file: every default
            fields = {}
        if not isinstance(fields, dict):
            raise ValueError(
                f"config file {path} must hold a mapping of settings, got {type(fields).__name__}"
            )
        return cls.model_validate({**fields, **overrides})
