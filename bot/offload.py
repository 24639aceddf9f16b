"""Blocking work (database, password hashing) off the event loop, in a thread pool of its own.

Each service owns its pools; handlers never call blocking code themselves.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_PR_SET_NAME = 15
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if ctypes.util.find_library("c") else None


def _name_os_thread(name: str) -> None:
    """Gives the worker thread its pool's name in the kernel too (Linux: 15 bytes), so `top -H`,
    /proc/<pid>/task/*/comm and the benchmarks' per-thread CPU (bench/desk_alone.py) tell the pools apart."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


class ThreadPool:
    def __init__(self, name: str, workers: int):
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=name, initializer=_name_os_thread, initargs=(name,)
        )

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # What loop.run_in_executor does, without its check that `fn` is no coroutine function:
        # uvloop runs that check (inspect, through the partial) on every call, several per message.
        return await asyncio.wrap_future(self._executor.submit(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
