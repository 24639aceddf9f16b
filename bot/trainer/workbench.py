"""The trainer's corrections of the training data: validate, save, list pending.

Each accepted change is written to bot/data/nlu/<lang>/ at once (so what is on
disk is what the next training uses) and recorded in the database as pending
until a training run takes it (`TrainingRunner.run` marks them trained).

Plain, blocking code (files and database): the trainer's service runs it in
its thread pool, never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.privacy import mask
from bot.trainer import nlu_files
from bot.trainer.nlu_files import DEFAULT_LANG, NLU_DIR, Example
from bot.trainer.tables import PENDING, TRAINED, TrainingChange
from bot.trainer.validation import check_example


@dataclass
class Outcome:
    ok: bool
    problems: list[str]
    change_id: int | None = None
    text: str | None = None


def _change_dict(row: TrainingChange) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "intent": row.intent,
        "text": row.text,
        "old_intent": row.old_intent,
        "old_text": row.old_text,
        "author": row.author,
        "status": row.status,
        "at": row.created_at.isoformat(timespec="seconds") + "Z",
    }


class Workbench:
    def __init__(self, database: Database, nlu_dir: Path = NLU_DIR, lang: str = DEFAULT_LANG):
        self.db = database
        self.nlu_dir = Path(nlu_dir)
        # The language folder new examples go to (bot/data/nlu/<lang>/corrections.yml).
        self.lang = lang

    # --- reading -------------------------------------------------------------------

    def examples(self) -> list[Example]:
        return nlu_files.read_examples(self.nlu_dir)

    def examples_for(self, intent: str) -> list[Example]:
        return [example for example in self.examples() if example.intent == intent]

    def find(self, intent: str, text: str) -> Example | None:
        return next((e for e in self.examples() if e.intent == intent and e.text == text), None)

    # --- changes -------------------------------------------------------------------

    def add(
        self,
        intent: str,
        text: str,
        author: str,
        entities: list[dict] | None = None,
        lang: str | None = None,
        **extra: Any,
    ) -> Outcome:
        """A new example (a paraphrase, or a citizen's message with its right intent), written under
        bot/data/nlu/<lang>/ (the workbench's language when not given)."""
        text = " ".join(text.split())
        problems = check_example(intent, text, self.examples(), entities)
        if problems:
            return Outcome(False, problems)
        written = nlu_files.annotate(text, entities or [])
        nlu_files.add_correction(intent, written, self.nlu_dir, lang or self.lang)
        return Outcome(
            True,
            [],
            self._record("add", author, intent=intent, text=written, entities=entities or [], **extra),
            written,
        )

    def correct_message(
        self,
        text: str,
        intent: str,
        author: str,
        entities: list[dict] | None = None,
        source_message_id: int | None = None,
        lang: str | None = None,
    ) -> Outcome:
        """A citizen's message, masked, becomes an example of the intent a trainer chose, in the
        message's language (bot/data/nlu/<lang>/corrections.yml)."""
        masked = mask(text)
        spans = entities  # offsets in the masked text (TrainerService.correct finds them there)
        existing = next((e for e in self.examples() if nlu_files.key(e.text) == nlu_files.key(masked)), None)
        if existing and existing.intent == intent:
            change = self._record(
                "confirm", author, intent=intent, text=masked, source_message_id=source_message_id, status=TRAINED
            )
            return Outcome(True, [], change, masked)
        return self.add(intent, masked, author, spans, lang, source_message_id=source_message_id)

    def move(self, old_intent: str, text: str, new_intent: str, author: str) -> Outcome:
        example = self.find(old_intent, text)
        if example is None:
            return Outcome(False, ["找不到这个例句，可能已被其他人修改。"])
        problems = check_example(new_intent, example.plain, self.examples(), ignore=example)
        if problems:
            return Outcome(False, problems)
        nlu_files.replace_example(example.file, old_intent, text, None, self.nlu_dir)
        nlu_files.add_correction(new_intent, text, self.nlu_dir, self.lang)
        change = self._record("move", author, intent=new_intent, text=text, old_intent=old_intent, old_text=text)
        return Outcome(True, [], change, text)

    def edit(self, intent: str, old_text: str, new_text: str, author: str) -> Outcome:
        example = self.find(intent, old_text)
        if example is None:
            return Outcome(False, ["找不到这个例句，可能已被其他人修改。"])
        new_text = " ".join(new_text.split())
        problems = check_example(intent, nlu_files.plain_text(new_text), self.examples(), ignore=example)
        if problems:
            return Outcome(False, problems)
        nlu_files.replace_example(example.file, intent, old_text, new_text, self.nlu_dir)
        change = self._record("edit", author, intent=intent, text=new_text, old_intent=intent, old_text=old_text)
        return Outcome(True, [], change, new_text)

    def delete(self, intent: str, text: str, author: str) -> Outcome:
        example = self.find(intent, text)
        if example is None:
            return Outcome(False, ["找不到这个例句，可能已被其他人修改。"])
        if len(self.examples_for(intent)) <= 2:
            return Outcome(False, ["每个事项至少要保留两个例句。"])
        nlu_files.replace_example(example.file, intent, text, None, self.nlu_dir)
        return Outcome(True, [], self._record("delete", author, old_intent=intent, old_text=text))

    def _record(self, kind: str, author: str, status: str = PENDING, **values: Any) -> int:
        with self.db.session() as session:
            row = TrainingChange(kind=kind, author=author, status=status, **values)
            session.add(row)
            session.flush()
            return row.id

    # --- pending ---------------------------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                select(TrainingChange).where(TrainingChange.status == PENDING).order_by(TrainingChange.id)
            ).scalars()
            return [_change_dict(row) for row in rows]

    def pending_diff(self) -> list[str]:
        """The pending changes as diff lines: '- intent: text' and '+ intent: text'."""
        lines = []
        for change in self.pending():
            if change["old_text"] is not None:
                lines.append(f"- {change['old_intent']}: {change['old_text']}")
            if change["text"] is not None and change["kind"] != "delete":
                lines.append(f"+ {change['intent']}: {change['text']}")
        return lines


__all__ = ["Outcome", "Workbench"]
