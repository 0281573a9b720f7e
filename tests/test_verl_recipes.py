"""The files in ``recipes/verl``: prepared rows load in verl's own dataset, the README's launch
command composes with verl's config, agrees with the plugin config and passes the agent loop's
check, and the README's table of reward managers names every manager verl ships."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import hydra
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf
from test_verl import LEGACY_MANAGERS, REWARD_MANAGERS, VERL_CONFIG, VERL_DIR, load_script
from verl.utils.dataset.rl_dataset import RLHFDataset

from lrpo.integrations.plugin import load_plugin_config
from lrpo.integrations.trl.tiny import tiny_tokenizer
from lrpo.integrations.verl import check_trainer_config
from lrpo.labelled.labels import unpack_label


def test_prepare_data_rows_load_in_verls_dataset(tmp_path, monkeypatch):
    prepare = load_script("prepare_data", monkeypatch)
    paths = prepare.main(["--tiny", "--output-dir", str(tmp_path)])
    config = OmegaConf.load(VERL_CONFIG).data
    config.cache_dir = str(tmp_path / "cache")
    for split, rows, route in (("train", 6, True), ("val", 3, False)):
        dataset = RLHFDataset(
            data_files=[str(paths[split])], tokenizer=tiny_tokenizer(), config=config
        )
        assert len(dataset) == rows
        row = dataset[0]
        label = unpack_label(row["reward_model"]["ground_truth"])
        assert (label.language, label.route, row["agent_name"]) == ("de", route, "lrpo_agent")
        assert label.reference and row["raw_prompt"][0]["role"] == "user"
        assert row["data_source"] == "gsm-symbolic/de" and row["extra_info"]["split"] == split


def test_prepare_data_from_jsonl_keeps_splits_and_rejects_bad_rows(tmp_path, monkeypatch):
    prepare = load_script("prepare_data", monkeypatch)
    rows = [
        {"prompt": "Habari?", "language": "sw", "reference": "Nzuri.", "region": "East Africa"},
        {
            "prompt": [{"role": "user", "content": "Wie?"}],
            "language": "de",
            "reference": "So.",
            "theme": "Chat / Conversational",
            "split": "val",
        },
    ]
    source = tmp_path / "mine.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    paths = prepare.main(["--input", str(source), "--output-dir", str(tmp_path / "out")])
    (train,), (val,) = (pq.read_table(paths[s]).to_pylist() for s in ("train", "val"))
    train_label = unpack_label(train["reward_model"]["ground_truth"])
    assert (train_label.regions, train_label.themes) == (("East Africa",), ("Reasoning / Logic",))
    assert train_label.route
    assert train["prompt"] == [{"role": "user", "content": "Habari?"}]
    assert unpack_label(val["reward_model"]["ground_truth"]).route is False
    assert (val["data_source"], val["extra_info"]["split"]) == ("mine/de", "val")
    source.write_text(json.dumps({"prompt": "x", "language": "de"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"mine.jsonl:1: need prompt, language and reference"):
        prepare.main(["--input", str(source)])


def test_readme_launch_composes_with_verl_and_matches_the_plugin_config():
    readme = (VERL_DIR / "README.md").read_text(encoding="utf-8")
    command = readme.split("python3 -m verl.trainer.main_ppo")[1].split("```")[0]
    command = command.replace("$LRPO", str(VERL_DIR)).replace("\\\n", " ")
    # what verl's main_ppo does with its command line: @hydra.main(config_name="ppo_trainer")
    with hydra.initialize_config_dir(config_dir=str(VERL_CONFIG.parent), version_base=None):
        config = hydra.compose("ppo_trainer", overrides=shlex.split(command))
    rollout = config.actor_rollout_ref.rollout
    files = (
        rollout.agent.agent_loop_config_path,
        config.reward.custom_reward_function.path,
        config.ray_kwargs.ray_init.runtime_env.env_vars.LRPO_CONFIG,
    )
    assert [Path(f).name for f in files] == ["lrpo_agent.yaml", "lrpo_reward.py", "lrpo.yaml"]
    assert all(Path(f).is_file() for f in files)
    assert config.reward.custom_reward_function.name == "compute_score"
    plugin = load_plugin_config(files[2])
    assert (rollout.n, config.data.train_batch_size) == (
        plugin.router.num_rollouts,
        plugin.service.groups_per_step,
    )
    assert plugin.service.backend == "ray"
    check_trainer_config(config)  # nothing the first rollout would refuse


def test_readme_table_names_every_reward_manager_verl_ships():
    readme = (VERL_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Reward managers and trainers")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split(" | ")[0])}
    assert named >= set(REWARD_MANAGERS) | set(LEGACY_MANAGERS)
    refused_by_verl = next(row for row in rows if "Unknown reward manager" in row)
    assert sorted(re.findall(r"`(\w+)`", refused_by_verl.split(" | ")[0])) == sorted(
        set(LEGACY_MANAGERS) - set(REWARD_MANAGERS)
    )
