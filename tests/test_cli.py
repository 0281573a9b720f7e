"""Tests of the ``lrpo`` command, the benchmarks' command lines and the learning benchmark."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import json
import textwrap
from pathlib import Path

import pytest
import tyro

from lrpo.cli import main

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
_TINY = ["--steps", "3", "--batch-size", "8"]


def test_simulate_writes_metrics_and_plots(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    assert main(["simulate", *_TINY, "--routers", "ema", "uniform", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["runs"]) == {"raw", "calibrated"}
    assert set(metrics["runs"]["raw"]) == {"ema", "uniform"}
    assert (tmp_path / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "tables_ema.png").exists()
    printed = capsys.readouterr().out
    assert "calibrated  ema" in printed and "collapse" in printed


def test_simulate_without_plots_runs_every_default_router(tmp_path: Path) -> None:
    assert main(["simulate", *_TINY, "--no-plots", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert list(metrics["runs"]["raw"]) == [
        "ema",
        "thompson",
        "monolingual",
        "input-dominant",
        "english-dominant",
        "uniform",
    ]
    assert not list(tmp_path.glob("*.png"))


def test_simulate_fine_grained_offers_the_embedding_router(tmp_path: Path) -> None:
    argv = ["simulate", "--scenario", "fine-grained", *_TINY, "--no-plots", "--out", str(tmp_path)]
    assert main([*argv, "--routers", "ema-embeddings"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["scenario"] == "fine-grained"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--routers", "best"], "invalid choice: 'best'"),
        (["simulate", "--steps", "0"], "must be >= 1"),
        (["simulate", "--seeds", "two"], "expected an integer"),
        (["simulate", "--routers", "ema-embeddings"], "need theme embeddings"),
        (["simulate", "--scenario", "huge"], "invalid choice: 'huge'"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_input_is_an_argparse_error(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_learning_benchmark_tiny_budget(tmp_path: Path, benchmark_module) -> None:
    module = benchmark_module("learning")
    out = tmp_path / "learning.json"
    report = module.main(
        ["--steps", "5", "--seeds", "1", "--batch-size", "8", "--out", str(out), "--no-progress"]
    )
    saved = json.loads(out.read_text())
    assert saved["args"]["steps"] == 5 and saved["args"]["seeds"] == 1
    assert set(saved["summary"]) == set(report["summary"])
    assert "calibrated/ema" in saved["summary"]
    assert set(saved["summary"]["raw/uniform"]) == {
        "router/regret",
        "router/quality",
        "router/collapse",
    }


def _field_docs(args_class: type) -> dict[str, str]:
    """``{field: doc}`` from the string literal written under each field, read from the source."""
    body = ast.parse(textwrap.dedent(inspect.getsource(args_class))).body[0].body
    return {
        statement.target.id: " ".join(following.value.value.split())
        for statement, following in itertools.pairwise(body)
        if isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    }


@pytest.mark.parametrize("name", sorted(path.stem for path in BENCHMARKS.glob("[!_]*.py")))
def test_benchmark_help_shows_the_doc_of_every_field(
    name, benchmark_module, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide help: no flag or phrase is cut by wrapping
    module = benchmark_module(name)
    with pytest.raises(SystemExit) as exit_info:
        tyro.cli(module.Args, args=["--help"], description=module.__doc__.splitlines()[0])
    assert exit_info.value.code == 0
    shown = " ".join(capsys.readouterr().out.replace("│", " ").split())  # help wraps lines
    docs = _field_docs(module.Args)
    assert set(docs) == {field.name for field in dataclasses.fields(module.Args)}
    for field, doc in docs.items():
        assert "--" + field.replace("_", "-") in shown, field
        assert " ".join(doc.split()[:3]) in shown, (field, doc)
