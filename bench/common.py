"""Shared helpers: results directory, percentiles, the stack under test, process memory."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.knowledge.store import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "results"
# The action server (rasa-sdk) binds 0.0.0.0 unless SANIC_HOST says otherwise;
# the benchmarks keep everything on loopback.
os.environ.setdefault("SANIC_HOST", "127.0.0.1")


# Every simulated citizen comes from 127.0.0.1 and types far faster than a person: the abuse limits
# (tested in the test suite) are lifted so that the benchmarks measure speed, not refusals. Over one
# second, not one minute: the desk counts a key's events in its window on every message, and a
# citizen under the real limit (60 a minute) has at most 60 of them. With a minute's window the
# benchmark's one address had every message of the last minute counted on each message, thousands of
# rows: a cost no citizen causes, which grew with the run (issue 12).
LIFTED_LIMITS = {
    "DESK_MESSAGES_PER_CONVERSATION": "1000000/1",
    "DESK_MESSAGES_PER_ADDRESS": "1000000/1",
    "CASE_LOOKUPS_PER_ADDRESS": "1000000/1",
}


def results_dir() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS


def write_json(name: str, data: Any) -> Path:
    path = results_dir() / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path


def write_text(name: str, text: str) -> Path:
    path = results_dir() / name
    path.write_text(text, encoding="utf-8")
    return path


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine_note(when: str) -> str:
    """CPU count and load average: other work on the machine shows up in every latency figure."""
    one, five, fifteen = os.getloadavg()
    return f"{when}: {os.cpu_count()} CPUs, load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def desk_supported() -> bool:
    """True when the stack launcher can start the desk (bot/desk is being built separately)."""
    from bot.tools.stack import Stack

    return callable(getattr(Stack, "start_desk", None))


@contextmanager
def running_stack(with_desk: bool = True) -> Iterator[Any]:
    """The real stack on free loopback ports, with a fresh seeded database and tracker store.

    Uses the latest trained model (trains first if there is none or data changed), or BENCH_MODEL.
    Starts the desk too when `bot.tools.stack.Stack.start_desk` exists and with_desk is set.
    """
    from bot.db import Database, seed
    from bot.tools.stack import Stack, train

    # BENCH_MODEL: a model trained from the same data (e.g. models/…tar.gz), to measure without
    # waiting for a training run on a busy machine.
    model = Path(os.environ["BENCH_MODEL"]) if os.environ.get("BENCH_MODEL") else train()
    with tempfile.TemporaryDirectory(prefix="wz-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed(Database(url))
        stack = Stack(model=model, database_url=url, workdir=Path(tmp) / "var", extra_env=LIFTED_LIMITS)
        try:
            stack.start()
            stack.desk_error = None
            if with_desk and desk_supported():
                try:
                    stack.start_desk()
                except Exception as error:  # the desk is optional for these benchmarks
                    stack.desk_error = f"{type(error).__name__}: {error}"
                    stack.stop_process("desk")
            yield stack
        finally:
            stack.stop()


# --- memory ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def rss_kb(pid: int) -> int:
    """VmRSS of one process in kB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    seen: set[int] = set()
    pending = [pid]
    total = 0
    while pending and len(seen) < 1000:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += rss_kb(current)
        pending += _children(current)
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far, all its threads, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU seconds of one process so far, by thread name (/proc/<pid>/task/*/comm).

    Threads of one pool share a name (bot/offload.py names them), so their times add up; the event
    loop is the thread named after the program (python)."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def stack_cpu_seconds(stack: Any) -> dict[str, float]:
    """CPU seconds used so far by each process of the stack (rasa, actions, desk) and their children."""
    found = {}
    for name, process in stack.processes.items():
        if process.poll() is None:
            pids = [process.pid, *_children(process.pid)]
            found[name] = sum(cpu_seconds(pid) for pid in pids)
    return found


def stack_rss_mb(stack: Any) -> dict[str, float]:
    """Resident memory per process of the stack (Rasa, actions, desk when running), in MB."""
    return {
        name: round(tree_rss_mb(process.pid), 1)
        for name, process in sorted(stack.processes.items())
        if process.poll() is None
    }
