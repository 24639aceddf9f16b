"""Where the stack's processes spend their CPU under load: py-spy samples them, no code change.

    async with Profile(stack, ["desk", "rasa"]) as profile: ...  # then profile.report()

Writes results/profile_<process>.txt (py-spy's collapsed stacks, for a flame graph) and
results/profile.md (per process: busy share of the run, own time by module and by function).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import markdown_table, results_dir, write_text

RATE_HZ = 100
PY_SPY = str(Path(sys.executable).parent / "py-spy")


def available() -> bool:
    return Path(PY_SPY).exists() or shutil.which("py-spy") is not None


def _module(frame: str) -> str:
    """'function (path/to/module.py:12)' -> a short package name: bot.desk, rasa, sqlalchemy, ..."""
    location = frame.rsplit("(", 1)[-1].rstrip(")").split(":", 1)[0]
    parts = Path(location).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if "bot" in parts:
        index = parts.index("bot")
        return ".".join(parts[index : index + 2]).removesuffix(".py")
    return Path(location).stem or location


# Innermost frames of threads that wait (an idle pool worker, the event loop's select): py-spy
# cannot always tell them from running ones, and they are no CPU.
# uvloop's loop (Rasa, the action server) waits inside Sanic's `serve`, which py-spy sees as running;
# the desk's, also uvloop, inside aiohttp's `run_app`.
WAITING = (
    "concurrent/futures/thread.py:81)",
    "(selectors.py:",
    "(threading.py:",
    "(queue.py:",
    "serve (sanic/server/runners.py:",
    "run_app (aiohttp/web.py:",
)


def summarize(collapsed: str, top: int = 15) -> dict[str, Any]:
    """Own samples (the innermost frame of each stack) by module and by function; waiting threads left out."""
    by_module: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        if any(mark in leaf for mark in WAITING):
            continue
        total += int(count)
        by_module[_module(leaf)] += int(count)
        by_function[leaf] += int(count)
    return {
        "samples": total,
        "modules": by_module.most_common(top),
        "functions": by_function.most_common(top),
    }


class Profile:
    def __init__(self, stack: Any, names: list[str], label: str = "") -> None:
        self.stack = stack
        self.names = [name for name in names if name in stack.processes]
        self.label = label
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.seconds = 0.0
        self._started = 0.0

    def path(self, name: str) -> Path:
        return results_dir() / f"profile_{name}.txt"

    async def __aenter__(self) -> Profile:
        if not available():
            return self
        for name in self.names:
            pid = self.stack.processes[name].pid
            self.processes[name] = await asyncio.create_subprocess_exec(
                PY_SPY, "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--nonblocking", "--threads",
                "--format", "raw", "--output", str(self.path(name)),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        self._started = time.monotonic()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self._started
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), 30)
            except asyncio.TimeoutError:
                process.kill()

    def report(self, notes: list[str] | None = None) -> dict[str, Any]:
        if not available():
            text = "# Profile\n\npy-spy is not installed (`pip install -e '.[dev]'`).\n"
            write_text("profile.md", text)
            return {"available": False}
        found: dict[str, Any] = {}
        text = f"# Where the CPU goes under load ({self.label})\n\n"
        text += (
            f"py-spy sampled each process {RATE_HZ} times a second for {self.seconds:.0f} s (waiting threads not "
            "counted), so samples / rate = seconds a thread of that process was running or in a system call; "
            "the desk's database threads count while SQLite works or syncs the disk. Collapsed "
            "stacks (for a flame graph): `profile_<process>.txt`.\n\n"
        )
        for name in self.names:
            path = self.path(name)
            if not path.exists():
                continue
            summary = summarize(path.read_text(encoding="utf-8", errors="replace"))
            busy = summary["samples"] / RATE_HZ / self.seconds if self.seconds else 0.0
            summary["busy_share"] = round(busy, 2)
            found[name] = summary
            text += f"## {name}: busy {busy:.0%} of the run ({summary['samples']} samples)\n\n"
            share = [[m, n, f"{n / max(1, summary['samples']):.0%}"] for m, n in summary["modules"]]
            text += markdown_table(["module (own time)", "samples", "share"], share) + "\n"
            rows = [[f"`{f[:110]}`", n, f"{n / max(1, summary['samples']):.0%}"] for f, n in summary["functions"]]
            text += markdown_table(["function (own time)", "samples", "share"], rows) + "\n"
        if notes:
            text += "\n".join(f"- {note}" for note in notes) + "\n"
        write_text("profile.md", text)
        return found
