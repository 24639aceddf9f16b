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


def training_examples() -> set[str]:
    """Every training example of every language (the held-out sets must share none)."""
    text = "".join(path.read_text(encoding="utf-8") for path in nlu_files.training_files())
    return {line.strip()[2:].strip() for line in text.splitlines() if line.strip().startswith("- ")}


# Minimum right-item rates of each held-out set, through the REST webhook (the targets).
ITEM_TARGETS = {"zh": 0.97, "zh_hard": 0.95, "it": 0.90, "fr": 0.90, "en": 0.90}
LANGUAGE_TARGET = 0.95


def test_held_out_sets_are_never_trained_on():
    sets = evaluate.test_sets()
    assert set(ITEM_TARGETS) <= set(sets), "a held-out set per language, and the harder Chinese one"
    trained = training_examples()
    for name, (path, _) in sets.items():
        examples = evaluate.load_examples(path)
        assert len([e for e in examples if e[0].startswith("item_")]) >= 2 * 84, name
        leaked = [text for _, text in examples if text in trained]
        assert not leaked, f"{name}: test questions found in training data: {leaked[:5]}"


def test_nlu_evaluation_in_process_writes_the_reports(trained_model):
    """The in-process evaluation (Rasa's Agent) of the Chinese set; reports go to results/."""
    assert evaluate.main(["--via", "agent", "--model", str(trained_model), "--set", "zh"]) == 0
    summary = json.loads((PROJECT_ROOT / "results" / "nlu_report.json").read_text())
    assert len(summary["per_item"]) == 84
    assert summary["item_accuracy"] >= 0.95, summary["errors"][:10]
    assert summary["general_accuracy"] >= 0.85


def test_every_language_through_the_rest_webhook(rasa_stack):
    """Right item and reply language per held-out set, as a citizen gets them (REST, real stack)."""
    assert evaluate.main(["--via", "rest", "--url", rasa_stack.rasa_url]) == 0
    sets = json.loads((PROJECT_ROOT / "results" / "nlu_languages.json").read_text())["sets"]
    for name, target in ITEM_TARGETS.items():
        assert sets[name]["item_accuracy"] >= target, (name, sets[name])
        assert sets[name]["language_accuracy"] >= LANGUAGE_TARGET, (name, sets[name])
