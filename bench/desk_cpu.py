"""The desk's own CPU per citizen message, next to bare Rasa's: the figure a shared machine cannot blur.

    python -m bench.desk_cpu [--messages 150] [--levels 1 10] [--cprofile]

Wall-clock ratios move with whatever else runs on the machine; the CPU seconds a process spends
per message do not, much. This sends the same scripted conversations to the REST webhook and
through the desk (its HTTP API), one after the other at each level, and reads each process's CPU
time (user + system, /proc) before and after: desk CPU ms per message is the desk's own cost, Rasa
CPU ms per message (REST) is what the bare bot costs. With `--cprofile` the desk runs under
cProfile and its profile is written to results/desk_cpu.prof (+ a text summary desk_cpu_profile.txt).
Writes results/desk_cpu.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import pstats
import sys
from typing import Any

from bench.common import (
    machine_note,
    markdown_table,
    results_dir,
    running_stack,
    stack_cpu_seconds,
    write_json,
    write_text,
)
from bench.load import run_load, warm_up
from bench.targets import targets_for

LEVELS = (1, 10)
MESSAGES = 150


async def measure(stack: Any, levels: tuple[int, ...], messages: int) -> list[dict[str, Any]]:
    """CPU ms per message for each process, per target (rest, desk) and level, plus median and p95."""
    targets = [t for t in targets_for(stack) if t.name in ("rest", "desk")]
    for target in targets:
        await warm_up(target, 20)
    rows = []
    for level in levels:
        for target in targets:
            before = stack_cpu_seconds(stack)
            result = await run_load(target, level, messages, 600)
            after = stack_cpu_seconds(stack)
            answered = max(1, len(result.latencies_ms))
            cpu = {name: round(1000 * (after[name] - before.get(name, 0.0)) / answered, 2) for name in after}
            figures = result.figures()
            figures["cpu_ms_per_message"] = cpu
            rows.append(figures)
            print(
                f"  {target.name:>5} x{level:<3} median {figures['median_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
                f"  ({figures['messages']} msgs, {figures['unanswered'] + figures['failed']} bad)  CPU ms/msg {cpu}",
                flush=True,
            )
    return rows


def summary(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Per level: desk's own CPU ms/message, Rasa's (REST, bare) and the share the desk adds."""
    by = {(row["target"], row["concurrency"]): row for row in rows}
    table = []
    for (target, level), row in sorted(by.items()):
        if target != "desk" or ("rest", level) not in by:
            continue
        rest = by[("rest", level)]
        desk_ms = row["cpu_ms_per_message"].get("desk", 0.0)
        rasa_ms = rest["cpu_ms_per_message"].get("rasa", 0.0)
        bot_ms = rasa_ms + rest["cpu_ms_per_message"].get("actions", 0.0)
        table.append(
            [
                level,
                f"{desk_ms:.2f}",
                f"{rasa_ms:.2f}",
                f"{bot_ms:.2f}",
                f"{desk_ms / bot_ms:.0%}" if bot_ms else "—",
                f"x{row['median_ms'] / rest['median_ms']:.2f}" if rest["median_ms"] else "—",
                f"x{row['p95_ms'] / rest['p95_ms']:.2f}" if rest["p95_ms"] else "—",
            ]
        )
    return table


HEADERS = [
    "citizens",
    "desk CPU ms/msg",
    "bare Rasa CPU ms/msg (REST)",
    "Rasa + actions CPU ms/msg",
    "desk / bot CPU",
    "desk/REST median",
    "desk/REST p95",
]


def profile_text(path: str, top: int = 40) -> str:
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--messages", type=int, default=MESSAGES, help="messages per target and level")
    parser.add_argument("--cprofile", action="store_true", help="run the desk under cProfile")
    args = parser.parse_args(argv)
    prof = results_dir() / "desk_cpu.prof"
    with running_stack(with_desk=not args.cprofile) as stack:
        if args.cprofile:
            prof.unlink(missing_ok=True)
            _start_profiled_desk(stack, str(prof))
        before = machine_note("before")
        rows = asyncio.run(measure(stack, tuple(args.levels), args.messages))
        after = machine_note("after")
    table = summary(rows)
    text = "# The desk's own CPU per citizen message\n\n" + markdown_table(HEADERS, table)
    text += f"\n- {before}\n- {after}\n"
    if args.cprofile:
        text += "- the desk ran under cProfile (slower than usual): desk_cpu.prof, desk_cpu_profile.txt\n"
        if prof.exists():
            write_text("desk_cpu_profile.txt", profile_text(str(prof)))
    write_text("desk_cpu.md", text)
    write_json("desk_cpu", {"rows": rows, "summary": [dict(zip(HEADERS, row, strict=True)) for row in table]})
    print(markdown_table(HEADERS, table))
    return 0


def _start_profiled_desk(stack: Any, output: str) -> None:
    """The desk as Stack.start_desk starts it, under cProfile (written when it stops on SIGTERM)."""
    from bot.tools.interpreters import desk_python
    from bot.tools.stack import _wait_http

    process = stack._spawn(
        "desk",
        [desk_python(), "-m", "bench.desk_cpu", "--desk-profile", output, "serve", "--port", str(stack.desk_port)],
        {"DESK_RASA_URL": stack.rasa_url, "DESK_RASA_TOKEN": stack.token},
    )
    _wait_http(f"{stack.desk_url}/health", process)


def profiled_desk(output: str, argv: list[str]) -> int:
    """`python -m bot.desk <argv>` under cProfile, timed in the thread's own CPU time.

    CPU, not wall time: on a shared machine the wall clock charges other processes' time to whatever
    function was running. cProfile sees the event loop's thread only; the database thread's share is
    the process figure minus this one.
    """
    import cProfile
    import time

    from bot.desk.__main__ import main as desk_main

    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    try:
        return desk_main(argv)
    finally:
        profile.disable()
        profile.dump_stats(output)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--desk-profile":
        sys.exit(profiled_desk(sys.argv[2], sys.argv[3:]))
    sys.exit(main())
