"""The NLU training data's layout: bot/data/nlu/<lang>/<category>.yml, read and written per language folder."""

from __future__ import annotations

import shutil

import pytest
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from bot.db import Database
from bot.knowledge import KnowledgeBase, intent_for
from bot.tools import generate
from bot.trainer import nlu_files
from bot.trainer.workbench import Workbench

PASSPORT = intent_for("passport-renewal")
ITALIAN = 'version: "3.1"\nnlu:\n- intent: item_passport_renewal\n  examples: |\n    - come rinnovo il passaporto\n'


@pytest.fixture()
def nlu_dir(tmp_path):
    target = tmp_path / "nlu"
    # Only the Chinese data: the tests add other language folders themselves.
    shutil.copytree(nlu_files.NLU_DIR / "zh", target / "zh")
    for path in target.glob("*/corrections.yml"):
        path.unlink()
    return target


def test_the_project_data_is_by_language_then_by_guide_category():
    knowledge = KnowledgeBase()
    categories = {entry["category"] for entry in knowledge.catalog}
    names = {path.relative_to(nlu_files.NLU_DIR).as_posix() for path in nlu_files.training_files()}
    assert {f"zh/{category}.yml" for category in categories} | {"zh/general.yml"} <= names
    assert not list(nlu_files.NLU_DIR.glob("*.yml")), "no training file outside a language folder"
    assert generate.misplaced_examples(knowledge) == []
    for path in nlu_files.training_files():
        RasaYAMLReader().reads(path.read_text(encoding="utf-8"))


def test_examples_of_another_language_are_read_and_edited_in_their_folder(nlu_dir):
    (nlu_dir / "it").mkdir()
    (nlu_dir / "it" / "exit_entry.yml").write_text(ITALIAN, encoding="utf-8")
    assert nlu_files.languages(nlu_dir) == ["it", "zh"]
    italian = [e for e in nlu_files.read_examples(nlu_dir, "it")]
    assert [(e.intent, e.text, e.file, e.lang) for e in italian] == [
        (PASSPORT, "come rinnovo il passaporto", "it/exit_entry.yml", "it")
    ]
    assert all(e.lang == "zh" for e in nlu_files.read_examples(nlu_dir, "zh"))
    bench = Workbench(_database(), nlu_dir)
    assert bench.edit(PASSPORT, "come rinnovo il passaporto", "come si rinnova il passaporto", "t").ok
    assert "come si rinnova il passaporto" in (nlu_dir / "it" / "exit_entry.yml").read_text(encoding="utf-8")


def test_corrections_go_to_the_workbench_language_folder(nlu_dir):
    Workbench(_database(), nlu_dir, lang="it").add(PASSPORT, "passaporto scaduto cosa faccio", "t")
    assert (nlu_dir / "it" / "corrections.yml").exists() and not (nlu_dir / "zh" / "corrections.yml").exists()
    Workbench(_database(), nlu_dir).add(PASSPORT, "护照本子快用完了 想换新的", "t")
    assert "护照本子快用完了" in (nlu_dir / nlu_files.corrections_file()).read_text(encoding="utf-8")


def test_generate_check_finds_an_item_outside_its_category_file(nlu_dir):
    (nlu_dir / "zh" / "health.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: item_passport_renewal\n  examples: |\n    - 护照要换了\n', encoding="utf-8"
    )
    found = generate.misplaced_examples(KnowledgeBase(), nlu_dir)
    assert "zh/health.yml: item_passport_renewal belongs in zh/exit_entry.yml" in found


def _database() -> Database:
    database = Database("sqlite://")
    database.create_schema()
    return database
