"""Concurrent simulated citizens against one target, bounded in messages and in time."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import median, percentile
from bench.conversations import scripts
from bench.targets import Target, new_sender

REQUEST_TIMEOUT_S = 30


@dataclass
class LoadResult:
    target: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    unanswered: int = 0
    unanswered_samples: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    conversations: int = 0

    @property
    def messages(self) -> int:
        return len(self.latencies_ms) + len(self.failures)

    def figures(self) -> dict[str, Any]:
        values = self.latencies_ms
        return {
            "target": self.target,
            "concurrency": self.concurrency,
            "messages": self.messages,
            "conversations": self.conversations,
            "unanswered": self.unanswered,
            "failed": len(self.failures),
            "median_ms": round(median(values), 1),
            "p95_ms": round(percentile(values, 0.95), 1),
            "p99_ms": round(percentile(values, 0.99), 1),
            "max_ms": round(max(values), 1) if values else 0.0,
            "messages_per_s": round(len(values) / self.wall_s, 1) if self.wall_s else 0.0,
            "wall_s": round(self.wall_s, 1),
        }


async def run_load(
    target: Target,
    concurrency: int,
    max_messages: int,
    max_seconds: float,
    on_message: Callable[[str, str, bool], None] | None = None,
    think_s: tuple[float, float] | None = None,
) -> LoadResult:
    """`concurrency` citizens, each holding conversations one after the other, until the
    message budget or the time limit is used up. Every message waits for its reply; with
    `think_s` a citizen pauses a random (uniform) time in that range before each message,
    otherwise the next message goes as soon as the reply is in (a closed loop, the worst case)."""
    rng = random.Random(concurrency)
    result = LoadResult(target.name, concurrency)
    plan = scripts(max(concurrency * 4, 40))
    budget = {"left": max_messages, "next": 0}
    deadline = time.monotonic() + max_seconds
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async def citizen(session: aiohttp.ClientSession) -> None:
        while budget["left"] > 0 and time.monotonic() < deadline:
            script = plan[budget["next"] % len(plan)]
            budget["next"] += 1
            result.conversations += 1
            sender = new_sender()
            for text in script:
                if think_s:
                    await asyncio.sleep(rng.uniform(*think_s))
                if budget["left"] <= 0 or time.monotonic() >= deadline:
                    return
                budget["left"] -= 1
                started = time.perf_counter()
                try:
                    problem = await target.send(session, sender, text)
                except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                    result.failures.append(f"{type(error).__name__}: {error}"[:200])
                    continue
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                if problem:
                    result.unanswered += 1
                    if len(result.unanswered_samples) < 5:
                        result.unanswered_samples.append(problem)
                if on_message:
                    on_message(sender, text, problem is None)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(citizen(session) for _ in range(concurrency)))
        result.wall_s = time.perf_counter() - started
    return result


async def warm_up(target: Target, messages: int = 8) -> None:
    await run_load(target, 1, messages, 60)
