"""What the trainer's workbench does, free of HTTP: inbox, corrections, examples, training, activation.

Handlers call this service; it owns the trainer's thread pool and runs every
database and file operation there, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable

from bot.db import Database
from bot.i18n import load_languages
from bot.knowledge import SAMPLE_NOTICE, intent_for, item_for, load_knowledge
from bot.offload import ThreadPool
from bot.privacy import mask
from bot.rasa_client import RasaClient
from bot.trainer import nlu_files
from bot.trainer.activation import Activation, Decision
from bot.trainer.inbox import FILTERS, Inbox, InboxQuery
from bot.trainer.jobs import TrainingRunner, resolve_model
from bot.trainer.validation import domain_vocabulary
from bot.trainer.workbench import Outcome, Workbench

logger = logging.getLogger(__name__)

BUSY = "已有训练在进行，请等它完成。"


class NotFound(Exception):
    """The item, example or job a trainer named does not exist (the route answers 404)."""


def _change_text(bench: Workbench, intent: str, body: dict[str, Any], author: str) -> Outcome:
    return bench.edit(intent, str(body.get("text", "")), str(body.get("new_text", "")), author)


# One entry per change a trainer can make to an item's examples (the route's {action}).
EXAMPLE_CHANGES: dict[str, Callable[[Workbench, str, dict[str, Any], str], Outcome]] = {
    "add": lambda bench, intent, body, author: bench.add(intent, str(body.get("text", "")), author),
    "edit": _change_text,
    "delete": lambda bench, intent, body, author: bench.delete(intent, str(body.get("text", "")), author),
    "move": lambda bench, intent, body, author: bench.move(
        intent, str(body.get("text", "")), str(body.get("to", "")), author
    ),
}


def _latest_accuracy(jobs: list[dict[str, Any]]) -> dict[str, float]:
    for job in jobs:
        result = job.get("result") or {}
        rows = result.get("per_item")
        if job["status"] == "done" and rows:
            return {row["item"]: row["live"] if row["live"] is not None else row["candidate"] for row in rows}
    return {}


def _spans(text: str, entities: Any) -> list[dict[str, Any]]:
    """Entity spans given as {entity, text[, value]}: offsets are found in the message."""
    spans = []
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or not entity.get("text"):
            continue
        start = text.find(str(entity["text"]))
        if start < 0:
            raise ValueError("标注的文字不在这条消息里。")
        span = {"entity": str(entity.get("entity")), "start": start, "end": start + len(str(entity["text"]))}
        if entity.get("value"):
            span["value"] = str(entity["value"])
        spans.append(span)
    return spans


class TrainerService:
    def __init__(self, database: Database, rasa: RasaClient, data_dir: Path, config: str = "config.yml"):
        self.pool = ThreadPool("trainer-db", min(2, database.workers))
        self.rasa = rasa
        self.workbench = Workbench(database, Path(data_dir) / "nlu")
        self.inbox_ = Inbox(database)
        self.runner = TrainingRunner(database, rasa.model_file, config=config, data_dir=Path(data_dir), pool=self.pool)
        self.activation = Activation(database, rasa, self.pool)
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Remembers the model the stack started with, and fails jobs a restart interrupted."""
        live = resolve_model(await self.rasa.model_file())
        if live:
            await self.pool.run(self.activation.record_initial, str(live))
        await self.pool.run(self.runner.fail_stale)

    def close(self) -> None:
        self.pool.close()

    # --- reading ---------------------------------------------------------------------

    def vocabulary(self) -> dict[str, Any]:
        knowledge = load_knowledge()
        intents, entities = domain_vocabulary()
        return {
            "items": [
                {"id": e["id"], "intent": intent_for(e["id"]), "title": e["title"], "category": e["category"]}
                for e in knowledge.catalog
            ],
            "general_intents": sorted(i for i in intents if item_for(i) is None),
            "aspects": {key: value["label"] for key, value in knowledge.aspects.items()},
            "entities": sorted(entities),
            "filters": list(FILTERS),
            "languages": dict(load_languages().names),
            "sample_notice": SAMPLE_NOTICE,
        }

    async def inbox(self, query: InboxQuery) -> list[dict[str, Any]]:
        return await self.pool.run(self.inbox_.entries, query)

    async def inbox_page(self, query: InboxQuery) -> dict[str, Any]:
        """One page of the inbox, with its total and whether more follow (issue 10, item 8)."""
        return await self.pool.run(self.inbox_.page, query)

    async def items(self) -> list[dict[str, Any]]:
        examples = await self.pool.run(self.workbench.examples)
        asked = await self.pool.run(self.inbox_.asked_counts)
        accuracy = _latest_accuracy(await self.pool.run(self.runner.jobs, 20))
        counts: dict[str, int] = {}
        for example in examples:
            counts[example.intent] = counts.get(example.intent, 0) + 1
        return [
            {
                "id": entry["id"],
                "intent": intent_for(entry["id"]),
                "title": entry["title"],
                "examples": counts.get(intent_for(entry["id"]), 0),
                "asked": asked.get(entry["id"], 0),
                "accuracy": accuracy.get(entry["id"]),
            }
            for entry in load_knowledge().catalog
        ]

    async def examples(self, intent: str) -> list[dict[str, str]]:
        rows = await self.pool.run(self.workbench.examples_for, intent)
        # Grouped by language (the folder), so the workbench shows each language's examples apart.
        return [{"text": e.text, "file": e.file, "lang": e.lang} for e in sorted(rows, key=lambda e: e.lang)]

    async def pending(self) -> dict[str, Any]:
        return {"pending": await self.pool.run(self.workbench.pending), "diff": await self.pool.run(self.workbench.pending_diff)}

    # --- changes -----------------------------------------------------------------------

    async def correct(self, message_id: int, body: dict[str, Any], author: str) -> Outcome:
        """A citizen's message becomes an example of the intent the trainer chose. NotFound, ValueError."""
        text = await self.pool.run(self.inbox_.message_text, message_id)
        if text is None:
            raise NotFound("找不到这条消息。")
        intent = "out_of_scope" if body.get("out_of_scope") else body.get("intent") or intent_for(str(body.get("item", "")))
        # Spans are looked for in the masked text the trainer saw: looked for in the unmasked one, the
        # answer ("not in the message" or not) would reveal masked digits one guess at a time (issue 10, item 5).
        entities = _spans(mask(text), body.get("entities"))
        # The correction keeps the message's language: it goes to that language's training data.
        lang = await self.pool.run(self.inbox_.message_language, message_id)
        lang = lang if lang in nlu_files.languages(self.workbench.nlu_dir) else None
        outcome = await self.pool.run(
            self.workbench.correct_message, text, intent, author, entities, message_id, lang
        )
        if outcome.ok:
            change = {"intent": intent, "aspect": body.get("aspect"), "by": author}
            await self.pool.run(self.inbox_.mark_corrected, message_id, change)
        return outcome

    async def change_example(self, intent: str, action: str, body: dict[str, Any], author: str) -> Outcome:
        change = EXAMPLE_CHANGES.get(action)
        if change is None:
            raise NotFound(action)
        return await self.pool.run(change, self.workbench, intent, body, author)

    # --- training, comparison, activation ------------------------------------------------

    async def train(self, author: str) -> tuple[dict[str, Any] | None, bool]:
        """(the job, started?): a new job in the background, or the running one."""
        job_id = await self.pool.run(self.runner.create, author)
        if job_id is None:
            return await self.pool.run(self.runner.job), False
        task = asyncio.create_task(self.runner.run(job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        logger.info("training job %s started by %s", job_id, author)
        return await self.pool.run(self.runner.job, job_id), True

    async def job(self, job_id: int | None) -> dict[str, Any] | None:
        await self.pool.run(self.runner.fail_stale)
        return await self.pool.run(self.runner.job, job_id)

    async def activate(self, job_id: int, user: dict[str, Any], override: bool) -> Decision:
        return await self.activation.activate(job_id, user["name"], user["role"], override)

    async def rollback(self, user: dict[str, Any]) -> Decision:
        return await self.activation.rollback(user["name"])

    async def models(self) -> dict[str, Any]:
        return {"live": await self.rasa.model_file(), "history": await self.pool.run(self.activation.history)}
