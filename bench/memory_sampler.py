"""Samples the stack's resident memory in the background while a load runs."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.common import stack_rss_mb


class MemorySampler:
    def __init__(self, stack: Any, interval_s: float = 0.5) -> None:
        self.stack = stack
        self.interval_s = interval_s
        self.label = ""
        self.samples: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None

    def sample(self) -> dict[str, float]:
        per_process = stack_rss_mb(self.stack)
        self.samples.append({"label": self.label, **per_process, "total": round(sum(per_process.values()), 1)})
        return per_process

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval_s)

    async def __aenter__(self) -> MemorySampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.sample()

    def peak(self) -> dict[str, float]:
        """Highest RSS seen per process and for the total, in MB."""
        names = {key for sample in self.samples for key in sample if key != "label"}
        return {name: max(sample.get(name, 0.0) for sample in self.samples) for name in sorted(names)}
