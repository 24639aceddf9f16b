"""Rasa's own tools on the project: data validation, dialogue flows, NLU evaluation."""

from __future__ import annotations

import json
import subprocess

import pytest

from bot.knowledge.store import PROJECT_ROOT
from bot.tools import evaluate
from bot.tools.rasa_cli import RASA, quiet_env
from bot.trainer import nlu_files

pytestmark = pytest.mark.stack


def rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RASA, *args], cwd=PROJECT_ROOT, env=quiet_env(), capture_output=True, text=True, timeout=timeout
    )


def test_rasa_data_validate():
    result = rasa("data", "validate", "--data", "bot/data", "--domain", "domain.yml", "--config", "config.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_dialogue_flows_with_rasa_test(trained_model, tmp_path):
    result = rasa(
        "test",
        "core",
        "--model",
        str(trained_model),
        "--stories",
        "tests/test_stories.yml",
        "--fail-on-prediction-errors",
        "--out",
        str(tmp_path / "core"),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_nlu_evaluation_on_held_out_set(trained_model):
    """The held-out set is never trained on; the report goes to results/."""
    training = "".join(path.read_text() for path in nlu_files.training_files())
    examples = evaluate.load_examples()
    assert len([e for e in examples if e[0].startswith("item_")]) >= 300
    leaked = [text for _, text in examples if f"- {text}\n" in training]
    assert not leaked, f"test questions found in training data: {leaked[:5]}"

    assert evaluate.main(["--via", "agent", "--model", str(trained_model)]) == 0
    summary = json.loads((PROJECT_ROOT / "results" / "nlu_report.json").read_text())
    assert len(summary["per_item"]) == 84
    assert summary["item_accuracy"] >= 0.93, summary["errors"][:10]
    assert summary["general_accuracy"] >= 0.85
