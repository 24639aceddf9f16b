"""Training in the background: validate, train, evaluate, compare.

One training at a time, decided by the database (a conditional INSERT), and
every step is written to the job's row, so a reloaded page, or another desk
instance, sees the same progress. A job whose heartbeat stops (its desk was
restarted) is marked failed, and a new one may start.

The state methods are plain, blocking code the trainer's service runs in its
thread pool; `run`, on the event loop, sends its own database writes there too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy import insert, literal, select, update

from bot.db import Database
from bot.i18n import load_languages
from bot.knowledge.store import PROJECT_ROOT
from bot.offload import ThreadPool
from bot.tools.evaluate import test_sets
from bot.tools.interpreters import rasa_python
from bot.tools.rasa_cli import quiet_env, train_command, validate_command
from bot.trainer.compare import compare, confusion_picture
from bot.trainer.tables import DONE, FAILED, PENDING, QUEUED, RUNNING, ModelActivation, TrainingChange, TrainingJob

logger = logging.getLogger(__name__)

# One configured location for the models (shared storage when desks run on several hosts): the
# desks serve the live one to every Rasa replica from there (bot/trainer/model_server.py).
MODELS_DIR = Path(os.environ.get("MODELS_DIR") or PROJECT_ROOT / "models")
CANDIDATES = MODELS_DIR / "candidates"
DATA_DIR = PROJECT_ROOT / "bot" / "data"
REPORTS = PROJECT_ROOT / "results" / "trainer"
STALE_AFTER = timedelta(seconds=60)
# Candidate models kept on disk for comparison and rollback (those ever live are always kept).
KEEP_CANDIDATES = 5
HEARTBEAT_S = 5
# Share of the progress bar each stage fills when it ends.
STAGE_END = {"validate": 0.1, "train": 0.75, "evaluate": 0.95, "compare": 1.0}
_COMPONENT_STARTED = re.compile(r"Starting to train component '([^']+)'")


def resolve_model(name: str | None, candidates: Path = CANDIDATES) -> Path | None:
    """A model archive's path from what Rasa's /status says (it gives the file name only)."""
    if not name:
        return None
    path = Path(name)
    if path.is_absolute():
        return path if path.exists() else None
    for directory in (MODELS_DIR, PROJECT_ROOT / "models", candidates, PROJECT_ROOT):
        if (directory / path).exists():
            return directory / path
    return None


def job_dict(row: TrainingJob) -> dict[str, Any]:
    now = datetime.utcnow()
    end = row.finished_at or now
    return {
        "id": row.id,
        "status": row.status,
        "stage": row.stage,
        "progress": round(row.progress, 3),
        "started_by": row.started_by,
        "config": row.config,
        "model_path": row.model_path,
        "error": row.error,
        "result": row.result,
        "created_at": row.created_at.isoformat(timespec="seconds") + "Z",
        "elapsed_s": round((end - (row.started_at or row.created_at)).total_seconds(), 1),
    }


class TrainingRunner:
    def __init__(
        self,
        database: Database,
        live_model: Callable[[], Awaitable[str | None]],
        config: str = "config.yml",
        candidates: Path = CANDIDATES,
        reports: Path = REPORTS,
        data_dir: Path = DATA_DIR,
        pool: ThreadPool | None = None,
    ):
        self.db = database
        # The trainer's service passes its pool; standing alone (tests), the runner has one of its own.
        self.pool = pool or ThreadPool("trainer-jobs", 1)
        self.live_model = live_model
        self.config = config
        self.data_dir = Path(data_dir)
        self.candidates = Path(candidates)
        self.reports = Path(reports)

    # --- state -------------------------------------------------------------------------

    def create(self, author: str) -> int | None:
        """A new job, or None when one is already queued or running."""
        self.fail_stale()
        now = datetime.utcnow()
        busy = select(TrainingJob.id).where(TrainingJob.status.in_([QUEUED, RUNNING]))
        with self.db.session() as session:
            result = session.execute(
                insert(TrainingJob).from_select(
                    ["status", "stage", "progress", "started_by", "config", "created_at", "heartbeat_at"],
                    select(
                        literal(QUEUED),
                        literal("queued"),
                        literal(0.0),
                        literal(author),
                        literal(self.config),
                        literal(now),
                        literal(now),
                    ).where(~busy.exists()),
                )
            )
            if result.rowcount != 1:
                return None
            return session.execute(select(TrainingJob.id).order_by(TrainingJob.id.desc()).limit(1)).scalar_one()

    def fail_stale(self) -> None:
        limit = datetime.utcnow() - STALE_AFTER
        with self.db.session() as session:
            session.execute(
                update(TrainingJob)
                .where(TrainingJob.status.in_([QUEUED, RUNNING]), TrainingJob.heartbeat_at < limit)
                .values(status=FAILED, error="训练进程中断（服务重启），请重新开始。", finished_at=datetime.utcnow())
                .execution_options(synchronize_session=False)
            )

    def job(self, job_id: int | None = None) -> dict[str, Any] | None:
        with self.db.session() as session:
            query = select(TrainingJob)
            query = query.where(TrainingJob.id == job_id) if job_id else query.order_by(TrainingJob.id.desc()).limit(1)
            row = session.execute(query).scalar_one_or_none()
            return job_dict(row) if row else None

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)).scalars()
            return [job_dict(row) for row in rows]

    def _set(self, job_id: int, **values: Any) -> None:
        values["heartbeat_at"] = datetime.utcnow()
        with self.db.session() as session:
            session.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(**values))

    # --- the run -----------------------------------------------------------------------------

    def _pending_changes(self) -> list[int]:
        with self.db.session() as session:
            return list(session.execute(select(TrainingChange.id).where(TrainingChange.status == PENDING)).scalars())

    def _mark_trained(self, job_id: int, change_ids: list[int]) -> None:
        with self.db.session() as session:
            session.execute(
                update(TrainingChange)
                .where(TrainingChange.id.in_(change_ids), TrainingChange.status == PENDING)
                .values(status="trained", job_id=job_id)
                .execution_options(synchronize_session=False)
            )

    async def _heartbeat(self, job_id: int) -> None:
        """While this desk runs the job, its row says so, whatever the subprocess prints (or not)."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self.pool.run(self._set, job_id)

    async def run(self, job_id: int) -> None:
        db = self.pool.run
        pending = await db(self._pending_changes)
        await db(self._set, job_id, status=RUNNING, stage="validate", progress=0.02, started_at=datetime.utcnow())
        heartbeat = asyncio.create_task(self._heartbeat(job_id))
        try:
            await self._run(job_id, pending)
        finally:
            heartbeat.cancel()

    async def _run(self, job_id: int, pending: list[int]) -> None:
        db = self.pool.run
        try:
            await self._command(job_id, "validate", validate_command(self.data_dir, self.config))
            self.candidates.mkdir(parents=True, exist_ok=True)
            name = f"candidate-{job_id}"
            await self._command(
                job_id,
                "train",
                train_command(
                    self.candidates, self.data_dir, self.config, ["--fixed-model-name", name, "--force"]
                ),
            )
            model = self.candidates / f"{name}.tar.gz"
            await db(self._set, job_id, model_path=str(model))
            live = resolve_model(await self.live_model(), self.candidates)
            self.reports.mkdir(parents=True, exist_ok=True)
            candidates = await self._evaluate(job_id, model, f"job-{job_id}-candidate")
            lives = await self._evaluate(job_id, live, f"job-{job_id}-live") if live else None
            await db(self._set, job_id, stage="compare", progress=STAGE_END["evaluate"])
            candidate_report = candidates[load_languages().default]
            live_report = lives[load_languages().default] if lives else None
            comparison = compare(candidate_report, live_report, candidates, lives)
            picture = self.reports / f"job-{job_id}-confusion.png"
            confusion_picture(candidate_report, picture)
            # Kept in the database, so every desk instance can show it.
            comparison["confusion_png_b64"] = base64.b64encode(picture.read_bytes()).decode()
            comparison["live_model"] = live.name if live else None
            if pending:
                await db(self._mark_trained, job_id, pending)
            await db(
                self._set, job_id, status=DONE, stage="done", progress=1.0, result=comparison,
                finished_at=datetime.utcnow(),
            )  # fmt: skip
            await db(self.prune)
        except Exception as error:  # the job row must say why, whatever failed
            logger.exception("training job %s failed", job_id)
            await db(self._set, job_id, status=FAILED, error=str(error)[-2000:], finished_at=datetime.utcnow())

    def prune(self, keep: int = KEEP_CANDIDATES) -> list[Path]:
        """Deletes candidate models but the newest `keep` and any that was ever put live."""
        with self.db.session() as session:
            activated = {Path(p).name for p in session.execute(select(ModelActivation.model_path)).scalars()}
        models = sorted(self.candidates.glob("candidate-*.tar.gz"), key=lambda path: path.stat().st_mtime, reverse=True)
        removed = [path for path in models[keep:] if path.name not in activated]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    async def _evaluate(self, job_id: int, model: Path, name: str) -> dict[str, dict[str, Any]]:
        """Every supported language's held-out set (tests/data): language -> report."""
        await self.pool.run(self._set, job_id, stage="evaluate")
        languages = load_languages()
        sets = [code for code in languages.supported if code in test_sets()]
        command = [rasa_python(), "-m", "bot.tools.evaluate", "--via", "agent", "--model", str(model)]
        command += [argument for code in sets for argument in ("--set", code)]
        await self._command(job_id, "evaluate", [*command, "--name", name, "--out-dir", str(self.reports)])
        reports = {}
        for code in sets:
            # evaluate names the default language's report <name>, the others <name>_<set>.
            path = self.reports / (f"{name}.json" if code == languages.default else f"{name}_{code}.json")
            reports[code] = json.loads(path.read_text(encoding="utf-8"))
        return reports

    async def _command(self, job_id: int, stage: str, args: list[str]) -> None:
        db = self.pool.run
        start = (await db(self.job, job_id))["progress"]
        end = STAGE_END[stage]
        await db(self._set, job_id, stage=stage)
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=PROJECT_ROOT,
            env=quiet_env({"LOG_LEVEL": "INFO"}),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        tail: list[str] = []
        components = 0
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail = (tail + [line])[-30:]
            if _COMPONENT_STARTED.search(line):
                components += 1
                # About a dozen graph components train; creep towards the stage's end.
                fraction = min(0.95, components / 14)
                await db(self._set, job_id, progress=start + (end - start) * fraction)
        code = await process.wait()
        if code != 0:
            raise RuntimeError(f"{stage} failed (exit {code}):\n" + "\n".join(tail[-15:]))
        await db(self._set, job_id, progress=end)
