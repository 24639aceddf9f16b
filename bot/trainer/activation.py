"""Putting a candidate model live, and rolling back, recorded in the database.

`activate` and `rollback` run on the event loop and send their database work to
the pool the trainer's service gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from bot.db import Database
from bot.offload import ThreadPool
from bot.rasa_client import StillAnswering
from bot.trainer.tables import DONE, ModelActivation, TrainingJob


class ModelServer(Protocol):
    async def load_model(self, model_path: str) -> bool: ...

    async def model_file(self) -> str | None: ...


@dataclass
class Decision:
    ok: bool
    message: str


class Activation:
    def __init__(self, database: Database, server: ModelServer, pool: ThreadPool | None = None):
        self.db = database
        self.server = server
        self.pool = pool or ThreadPool("trainer-activation", 1)

    def _finished_job(self, job_id: int) -> tuple[dict[str, Any], str] | None:
        with self.db.session() as session:
            job = session.get(TrainingJob, job_id)
            if job is None or job.status != DONE or not job.model_path:
                return None
            return job.result or {}, job.model_path

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(limit)).scalars()
            return [
                {
                    "id": r.id,
                    "model": Path(r.model_path).name,
                    "model_path": r.model_path,
                    "job_id": r.job_id,
                    "by": r.activated_by,
                    "override": r.override,
                    "rollback_of": r.rollback_of,
                    "at": r.at.isoformat(timespec="seconds") + "Z",
                }
                for r in rows
            ]

    async def activate(self, job_id: int, user: str, role: str, override: bool = False) -> Decision:
        finished = await self.pool.run(self._finished_job, job_id)
        if finished is None:
            return Decision(False, "这次训练还没有完成，不能上线。")
        result, model_path = finished
        # The comparison was made against the model live when the job ran; another may be live now
        # (an activation, a rollback). Then the comparison says nothing about this activation, and
        # the candidate must be trained and compared again (issue 10: "worse than live").
        compared_with = result.get("live_model")
        live_now = await self.server.model_file()
        if compared_with and live_now and Path(live_now).name != compared_with:
            if not (override and role == "admin"):
                return Decision(
                    False,
                    f"这次训练比较的是 {compared_with}，现在上线的是 {Path(live_now).name}：比较已过时，"
                    "请重新训练（会与现在的线上模型比较）。如确需上线，请管理员选择“强制上线”。",
                )
        if result.get("worse_than_live"):
            if not (override and role == "admin"):
                delta = result.get("delta") or {}
                worse = "、".join(result.get("worse_languages") or [])
                where = f"在这些语言的测试集上更差：{worse}" if worse else "在测试集上比线上模型差"
                return Decision(
                    False,
                    f"候选模型{where}（中文事项准确率 {delta.get('item_accuracy', 0):+.1%}），不能上线。"
                    "如确需上线，请管理员选择“强制上线”。",
                )
        if not Path(model_path).exists():
            return Decision(False, "模型文件不存在，请重新训练。")
        refused = await self._load(model_path)
        if refused:
            return Decision(False, refused)
        await self.pool.run(self._record, model_path, user, job_id=job_id, override=override)
        return Decision(True, "新模型已上线。")

    async def rollback(self, user: str) -> Decision:
        history = await self.pool.run(self.history, 2)
        if len(history) < 2:
            return Decision(False, "没有可以回滚的上一个模型。")
        current, previous = history
        if not Path(previous["model_path"]).exists():
            return Decision(False, "上一个模型文件已不存在。")
        refused = await self._load(previous["model_path"])
        if refused:
            return Decision(False, refused)
        await self.pool.run(
            self._record, previous["model_path"], user, job_id=previous["job_id"], rollback_of=current["id"]
        )
        return Decision(True, f"已回滚到 {previous['model']}。")

    async def _load(self, model_path: str) -> str | None:
        """Loads the model; None when it is live, else why not (for the trainer's page)."""
        try:
            loaded = await self.server.load_model(model_path)
        except StillAnswering as busy:
            # Rasa answers nothing while it loads: the desk waited for the replies in flight first (item 4).
            return (
                f"还有 {busy.in_flight} 条市民消息在等待机器人回复，等了 {busy.waited_s:.0f} 秒仍未完成；"
                "为避免丢失回复，模型没有上线，请稍后再试。"
            )
        return None if loaded else "Rasa 服务没有加载模型（加载失败或超时），线上模型未变，请稍后再试。"

    def record_initial(self, model_path: str) -> None:
        """The model the stack started with, so that the first rollback has somewhere to go."""
        if not self.history(limit=1):
            self._record(model_path, "system")

    def _record(self, model_path: str, user: str, **values: Any) -> None:
        with self.db.session() as session:
            session.add(ModelActivation(model_path=model_path, activated_by=user, **values))
