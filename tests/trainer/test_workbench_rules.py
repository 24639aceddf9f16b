"""The trainer's data writing, validation, comparison and activation rules."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from bot.db import Database
from bot.knowledge import intent_for
from bot.trainer import nlu_files
from bot.trainer.activation import Activation
from bot.trainer.compare import compare, confusion_picture
from bot.trainer.jobs import TrainingRunner
from bot.trainer.tables import TrainingJob
from bot.trainer.workbench import Workbench
from tests.trainer.helpers import report

PASSPORT = intent_for("passport-renewal")
LOST = intent_for("passport-reissue-lost")


@pytest.fixture()
def nlu_dir(tmp_path):
    target = tmp_path / "nlu"
    shutil.copytree(nlu_files.NLU_DIR, target)
    (target / nlu_files.corrections_file()).unlink(missing_ok=True)
    return target


@pytest.fixture()
def db():
    database = Database("sqlite://")
    database.create_schema()
    return database


@pytest.fixture()
def bench(db, nlu_dir):
    return Workbench(db, nlu_dir)


def rasa_examples(path):
    data = RasaYAMLReader().reads(path.read_text(encoding="utf-8"))
    return {(m.get("intent"), m.get("text")) for m in data.intent_examples}


def test_added_examples_round_trip_through_rasas_reader(bench, nlu_dir):
    assert bench.add(PASSPORT, "护照本子快用完了 想换新的", "trainer1").ok
    entities = [{"entity": "place", "start": 2, "end": 5, "value": "prato"}]
    assert bench.add(LOST, "我在普拉托护照被偷了", "trainer1", entities).ok
    read = rasa_examples(nlu_dir / nlu_files.corrections_file())
    assert (PASSPORT, "护照本子快用完了 想换新的") in read
    assert (LOST, "我在普拉托护照被偷了") in read
    message = next(
        m
        for m in RasaYAMLReader().reads((nlu_dir / nlu_files.corrections_file()).read_text()).intent_examples
        if m.get("intent") == LOST
    )
    assert message.get("entities")[0]["value"] == "prato"


def test_corrections_are_written_in_a_stable_order(bench, nlu_dir, tmp_path, db):
    for text in ["护照页数用光了", "护照到期前半年换", "旧护照还有签证怎么换"]:
        assert bench.add(PASSPORT, text, "t").ok
    assert bench.add(LOST, "护照不见了", "t").ok
    first = (nlu_dir / nlu_files.corrections_file()).read_text()
    intents = [line for line in first.splitlines() if line.startswith("- intent:")]
    assert intents == sorted(intents)
    # The same content added in another order gives the same file.
    other = tmp_path / "other"
    shutil.copytree(nlu_dir, other)
    (other / nlu_files.corrections_file()).unlink()
    second_bench = Workbench(db, other)
    for text in ["护照不见了"]:
        second_bench.add(LOST, text, "t")
    for text in ["旧护照还有签证怎么换", "护照到期前半年换", "护照页数用光了"]:
        second_bench.add(PASSPORT, text, "t")
    assert (other / nlu_files.corrections_file()).read_text() == first


def test_validation_refuses_before_saving(bench, nlu_dir):
    existing = bench.examples_for(LOST)[0]
    outcome = bench.add(PASSPORT, existing.plain + "。", "t")
    assert not outcome.ok and "已属于" in outcome.problems[0]
    assert not bench.add(LOST, existing.plain, "t").ok
    assert not bench.add("item_no_such_thing", "随便一句", "t").ok
    assert not bench.add(PASSPORT, "   ", "t").ok
    assert not bench.add(PASSPORT, "x" * 400, "t").ok
    assert not bench.add(PASSPORT, "护照", "t", [{"entity": "nope", "start": 0, "end": 2}]).ok
    assert not (nlu_dir / nlu_files.corrections_file()).exists()
    assert bench.pending() == []


def test_citizen_message_is_masked_before_it_becomes_data(bench, nlu_dir):
    outcome = bench.correct_message(
        "我叫王建国 WZ202610080017 的公证好了吗 电话 +39 333 1234567", "check_case_status", "t"
    )
    assert outcome.ok
    written = (nlu_dir / nlu_files.corrections_file()).read_text()
    assert "王建国" not in written and "202610080017" not in written and "1234567" not in written


def test_move_edit_delete_in_place_and_pending_diff(bench, nlu_dir):
    example = bench.examples_for(LOST)[0]
    before = (nlu_dir / example.file).read_text().splitlines()
    assert bench.move(LOST, example.text, PASSPORT, "t").ok
    after = (nlu_dir / example.file).read_text().splitlines()
    assert len(after) == len(before) - 1 and f"    - {example.text}" not in after
    second = bench.examples_for(LOST)[0]
    assert bench.edit(LOST, second.text, second.text + "呀", "t").ok
    third = bench.examples_for(LOST)[1]
    assert bench.delete(LOST, third.text, "t").ok
    diff = bench.pending_diff()
    assert f"- {LOST}: {example.text}" in diff and f"+ {PASSPORT}: {example.text}" in diff
    assert f"+ {LOST}: {second.text}呀" in diff and f"- {LOST}: {third.text}" in diff
    assert len(bench.pending()) == 3
    # Rasa still reads every file.
    for path in nlu_files.training_files(nlu_dir):
        RasaYAMLReader().reads(path.read_text())


def test_comparison_lists_better_and_worse_questions(tmp_path):
    live = report(0.75, [(PASSPORT, "a"), (PASSPORT, "b")])
    candidate = report(0.75, [(PASSPORT, "b"), (PASSPORT, "c")])
    result = compare(candidate, live)
    assert result["better"] == [{"expected": PASSPORT, "text": "a"}]
    assert result["worse"] == [{"expected": PASSPORT, "text": "c"}]
    assert not result["worse_than_live"]
    assert compare(report(0.5, []), live)["worse_than_live"]
    picture = confusion_picture(candidate, tmp_path / "c.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class FakeRasa:
    """Stands in for the Rasa server's PUT /model (the stack tests use the real one)."""

    def __init__(self, live: str | None = None):
        self.loaded = []
        self.live = live

    async def load_model(self, model_path):
        self.loaded.append(model_path)
        self.live = model_path
        return True

    async def model_file(self):
        return self.live


def finished_job(db, tmp_path, worse: bool) -> int:
    model = tmp_path / f"candidate-{worse}.tar.gz"
    model.write_bytes(b"model")
    with db.session() as session:
        job = TrainingJob(
            status="done",
            stage="done",
            progress=1.0,
            started_by="t",
            config="config.yml",
            model_path=str(model),
            result={"worse_than_live": worse, "delta": {"item_accuracy": -0.05 if worse else 0.01}},
        )
        session.add(job)
        session.flush()
        return job.id


def test_worse_candidate_needs_an_admin_override(db, tmp_path):
    server = FakeRasa()
    activation = Activation(db, server)
    worse = finished_job(db, tmp_path, worse=True)
    assert not asyncio.run(activation.activate(worse, "trainer1", "trainer")).ok
    assert not asyncio.run(activation.activate(worse, "trainer1", "trainer", override=True)).ok
    assert asyncio.run(activation.activate(worse, "boss", "admin", override=True)).ok
    assert activation.history()[0]["override"] is True and activation.history()[0]["by"] == "boss"


def test_the_comparison_is_with_the_model_live_at_activation_not_at_training(db, tmp_path):
    """Issue 10: a job compared with model A; B went live since (an activation, a rollback)."""
    job = finished_job(db, tmp_path, worse=False)
    with db.session() as session:
        row = session.get(TrainingJob, job)
        row.result = {**row.result, "live_model": "live-a.tar.gz"}
    server = FakeRasa(live=str(tmp_path / "live-b.tar.gz"))
    refused = asyncio.run(Activation(db, server).activate(job, "trainer1", "trainer"))
    assert not refused.ok and "live-b.tar.gz" in refused.message and not server.loaded
    assert asyncio.run(Activation(db, server).activate(job, "boss", "admin", override=True)).ok
    # Compared with the model that is live: nothing stale.
    server = FakeRasa(live=str(tmp_path / "live-a.tar.gz"))
    assert asyncio.run(Activation(db, server).activate(job, "trainer1", "trainer")).ok


def test_activation_and_rollback_are_recorded(db, tmp_path):
    server = FakeRasa()
    activation = Activation(db, server)
    initial = tmp_path / "initial.tar.gz"
    initial.write_bytes(b"m")
    activation.record_initial(str(initial))
    job = finished_job(db, tmp_path, worse=False)
    assert asyncio.run(activation.activate(job, "trainer1", "trainer")).ok
    assert asyncio.run(activation.rollback("trainer1")).ok
    assert server.loaded[-1] == str(initial)
    history = activation.history()
    assert [h["by"] for h in history] == ["trainer1", "trainer1", "system"]
    assert history[0]["rollback_of"] == history[1]["id"]


def test_only_one_training_at_a_time(db):
    async def no_live():
        return None

    runner = TrainingRunner(db, no_live)
    first = runner.create("t1")
    assert first is not None
    assert runner.create("t2") is None
    assert runner.job()["status"] == "queued" and runner.job()["started_by"] == "t1"


def test_old_candidates_are_pruned_but_live_ones_kept(db, tmp_path):
    import os
    import time as clock

    async def no_live():
        return None

    runner = TrainingRunner(db, no_live, candidates=tmp_path)
    for number in range(1, 9):
        path = tmp_path / f"candidate-{number}.tar.gz"
        path.write_bytes(b"m")
        os.utime(path, (clock.time() + number, clock.time() + number))
    Activation(db, FakeRasa())._record(str(tmp_path / "candidate-1.tar.gz"), "t")
    removed = {path.name for path in runner.prune(keep=5)}
    assert removed == {"candidate-2.tar.gz", "candidate-3.tar.gz"}
    assert (tmp_path / "candidate-1.tar.gz").exists() and (tmp_path / "candidate-8.tar.gz").exists()
