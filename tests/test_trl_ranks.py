"""Two data-parallel ranks (gloo on CPU) route, learn and log identically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from _trl_setup import (
    SEMANTIC,
    K,
    Recorder,
    RecordingSemanticReward,
    add_router,
    capture_records,
    length_score,
    make_dataset,
    make_router,
    make_trainer,
)

from lrpo.rewards import SemanticReward


def _rank_worker(rank, world, port, out_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    router, reward, semantic = make_router(), Recorder(), RecordingSemanticReward()
    # 6 rollouts per rank and K=4: the middle group of each step is split across the ranks.
    trainer = make_trainer(
        Path(out_dir) / "run",
        reward=[reward, semantic],
        per_device_train_batch_size=6,
        dataset=make_dataset(12),
    )
    assert trainer.accelerator.num_processes == world
    add_router(trainer, router, learn_from=["recorder"])  # SemanticReward is only logged
    records = capture_records(router)
    trainer.train()
    result = {
        "plans": [plan.languages.tolist() for plan, _ in records],
        "contexts": [[c.language for c in plan.contexts] for plan, _ in records],
        "rewards": [rewards.tolist() for _, rewards in records],
        "seen": [call["language"] for call in reward.calls],
        "state": router.state_dict(),
        "semantic_calls": semantic.calls,
        "logs": [log for log in trainer.state.log_history if "train_runtime" not in log],
    }
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
        json.dump(result, handle)


def test_two_ranks_route_and_learn_identically(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for key in ("plans", "contexts", "rewards", "state"):
        assert ranks[0][key] == ranks[1][key], key
    plans = np.array(ranks[0]["plans"])
    assert plans.shape == (2, 3, K)  # 2 steps, 3 groups over both ranks, K rollouts
    for step, plan in enumerate(plans):  # each rank's reward saw its own slice of the plan
        flat = plan.ravel().tolist()
        assert ranks[0]["seen"][step] == flat[:6] and ranks[1]["seen"][step] == flat[6:]
    assert ranks[0]["state"]["step"] == 2

    # SemanticReward's metrics are summed over the ranks: both log those of all 12 rollouts,
    # as one process scoring both slices would.
    whole = SemanticReward(SEMANTIC, scorer=length_score)
    whole.use_languages(make_router().config.languages)  # as the callback did (+ dataset's)
    for step in range(2):
        calls = [rank["semantic_calls"][step] for rank in ranks]
        whole(**{key: calls[0][key] + calls[1][key] for key in calls[0]})
        expected = whole.metric_sums(reset=True).metrics()
        logged = [[rank["logs"][step][key] for key in expected] for rank in ranks]
        np.testing.assert_array_equal(logged[0], logged[1])
        np.testing.assert_allclose(logged[0], list(expected.values()), rtol=1e-12)
        counts = sum(v for k, v in expected.items() if k.endswith("/count"))
        assert counts == 12 and len(calls[0]["completions"]) == 6
