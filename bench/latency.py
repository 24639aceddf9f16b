"""Latency and throughput: 1, 10 and 50 concurrent citizens against bare Rasa `/model/parse`,
the REST webhook (Rasa → action server → reply) and the desk when the stack runs it.

    python -m bench.latency [--levels 1 10 50] [--seconds 60]

Writes results/latency.{md,json,png}. Targets (issue 5): p95 of the full path under 150 ms
at 10 concurrent conversations; the desk adding no more than 20% over the REST webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bench.common import machine_note, markdown_table, results_dir, running_stack, write_json, write_text
from bench.load import run_load, warm_up
from bench.memory_sampler import MemorySampler
from bench.targets import targets_for

LEVELS = (1, 10, 50)
MESSAGES = {1: 60, 10: 200, 50: 500}
# Citizens who read the answer and type: 1-3 s before each message (a second, paced run at 10).
THINK_S = (1.0, 3.0)
PACED_LEVEL, PACED_MESSAGES = 10, 100
P95_TARGET_MS = 150.0
DESK_OVERHEAD_TARGET = 1.20


async def measure(
    stack: Any,
    levels: tuple[int, ...] = LEVELS,
    max_seconds: float = 60,
    sampler: MemorySampler | None = None,
    paced: bool = True,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for target in targets_for(stack):
        await warm_up(target)
        for level in levels:
            if sampler:
                sampler.label = f"{target.name}@{level}"
            result = await run_load(target, level, MESSAGES.get(level, level * 10), max_seconds)
            figures = result.figures()
            figures["label"], figures["pacing"] = target.label, "none"
            figures["sample_failures"] = result.failures[:3]
            figures["sample_unanswered"] = result.unanswered_samples
            rows.append(figures)
            print(
                f"  {target.name:>5} x{level:<3} median {figures['median_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
                f"  p99 {figures['p99_ms']:7.1f} ms  {figures['messages_per_s']:6.1f} msg/s"
                f"  ({figures['messages']} msgs, {figures['unanswered']} unanswered, {figures['failed']} failed)",
                flush=True,
            )
        if target.name != "parse" and paced:
            if sampler:
                sampler.label = f"{target.name}@{PACED_LEVEL} paced"
            result = await run_load(target, PACED_LEVEL, PACED_MESSAGES, max_seconds, think_s=THINK_S)
            figures = result.figures()
            figures["label"], figures["pacing"] = target.label, f"{THINK_S[0]:g}-{THINK_S[1]:g} s"
            figures["sample_failures"] = result.failures[:3]
            figures["sample_unanswered"] = result.unanswered_samples
            rows.append(figures)
            print(
                f"  {target.name:>5} x{PACED_LEVEL} paced {figures['pacing']}: median {figures['median_ms']:7.1f} ms"
                f"  p95 {figures['p95_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms",
                flush=True,
            )
    return rows


def closed_loop(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row.get("pacing", "none") == "none"]


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """p95 and median of each path over its baseline (REST over parse, desk over REST)."""
    by = {(row["target"], row["concurrency"]): row for row in closed_loop(rows)}
    found = []
    for path, baseline in (("rest", "parse"), ("desk", "rest")):
        for (target, level), row in sorted(by.items()):
            base = by.get((baseline, level))
            if target != path or not base or not base["p95_ms"] or not base["median_ms"]:
                continue
            found.append(
                {
                    "path": path,
                    "baseline": baseline,
                    "concurrency": level,
                    "median_ratio": round(row["median_ms"] / base["median_ms"], 2),
                    "p95_ratio": round(row["p95_ms"] / base["p95_ms"], 2),
                    "throughput_ratio": round(row["messages_per_s"] / base["messages_per_s"], 2)
                    if base["messages_per_s"]
                    else 0.0,
                }
            )
    return found


def checks(rows: list[dict[str, Any]], found_ratios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(row["target"], row["concurrency"]): row for row in closed_loop(rows)}
    paced = {row["target"]: row for row in rows if row.get("pacing", "none") != "none"}
    full = by.get(("desk", 10))
    rest = by.get(("rest", 10))
    result = []
    if full:
        result.append(
            {
                "figure": "full path (desk) p95 at 10 concurrent",
                "value": f"{full['p95_ms']:.0f} ms",
                "target": f"< {P95_TARGET_MS:.0f} ms",
                "met": full["p95_ms"] < P95_TARGET_MS,
            }
        )
        overhead = next((r for r in found_ratios if r["path"] == "desk" and r["concurrency"] == 10), None)
        if overhead:
            result.append(
                {
                    "figure": "desk overhead over REST webhook (p95, 10 concurrent)",
                    "value": f"x{overhead['p95_ratio']:.2f}",
                    "target": f"<= x{DESK_OVERHEAD_TARGET:.2f}",
                    "met": overhead["p95_ratio"] <= DESK_OVERHEAD_TARGET,
                }
            )
    else:
        result.append(
            {
                "figure": "full path (desk) p95 at 10 concurrent",
                "value": "not measured (desk not in the stack)",
                "target": f"< {P95_TARGET_MS:.0f} ms",
                "met": None,
            }
        )
    if rest:
        result.append(
            {
                "figure": "REST webhook p95 at 10 concurrent (full path without desk)",
                "value": f"{rest['p95_ms']:.0f} ms",
                "target": f"< {P95_TARGET_MS:.0f} ms",
                "met": rest["p95_ms"] < P95_TARGET_MS,
            }
        )
    for row in paced.values():
        result.append(
            {
                "figure": f"{row['label']} p95 at 10 paced conversations ({row['pacing']} between messages)",
                "value": f"{row['p95_ms']:.0f} ms",
                "target": f"< {P95_TARGET_MS:.0f} ms",
                "met": row["p95_ms"] < P95_TARGET_MS,
            }
        )
    unanswered = sum(row["unanswered"] + row["failed"] for row in rows)
    result.append(
        {
            "figure": "messages without a proper answer (all runs)",
            "value": f"{unanswered} of {sum(row['messages'] for row in rows)}",
            "target": "0",
            "met": unanswered == 0,
        }
    )
    return result


def plot(rows: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = closed_loop(rows)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for target in dict.fromkeys(row["target"] for row in rows):
        mine = [row for row in rows if row["target"] == target]
        levels = [row["concurrency"] for row in mine]
        left.plot(levels, [row["p95_ms"] for row in mine], marker="o", label=f"{target} p95")
        left.plot(levels, [row["median_ms"] for row in mine], marker=".", linestyle="--", label=f"{target} median")
        right.plot(levels, [row["messages_per_s"] for row in mine], marker="o", label=target)
    left.axhline(P95_TARGET_MS, color="red", linewidth=0.8, linestyle=":", label="p95 target (full path @10)")
    left.set(xscale="log", yscale="log", xlabel="concurrent conversations", ylabel="ms", title="latency")
    right.set(xscale="log", xlabel="concurrent conversations", ylabel="messages/s", title="throughput")
    for axis in (left, right):
        axis.set_xticks(sorted({row["concurrency"] for row in rows}))
        axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path = results_dir() / "latency.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def report(rows: list[dict[str, Any]], notes: list[str] | None = None) -> dict[str, Any]:
    found_ratios = ratios(rows)
    found_checks = checks(rows, found_ratios)
    picture = plot(rows)
    headers = [
        "target",
        "concurrent",
        "pause between messages",
        "messages",
        "median ms",
        "p95 ms",
        "p99 ms",
        "msg/s",
        "unanswered",
        "failed",
    ]
    table = [
        [
            row["label"],
            row["concurrency"],
            row.get("pacing", "none"),
            row["messages"],
            row["median_ms"],
            row["p95_ms"],
            row["p99_ms"],
            row["messages_per_s"],
            row["unanswered"],
            row["failed"],
        ]
        for row in rows
    ]
    ratio_table = [
        [f"{r['path']} / {r['baseline']}", r["concurrency"], r["median_ratio"], r["p95_ratio"], r["throughput_ratio"]]
        for r in found_ratios
    ]
    text = "# Latency and throughput (loopback, this machine)\n\n"
    text += (
        "Each simulated citizen holds scripted multi-turn conversations (held-out questions, follow-ups, case "
        "lookups). Pause 'none' is a closed loop: the next message goes as soon as the reply is in, so N citizens "
        f"keep N requests in flight (the worst case). The paced run pauses {THINK_S[0]:g}-{THINK_S[1]:g} s "
        "before each message, like a person reading and typing.\n\n"
    )
    text += markdown_table(headers, table)
    text += "\n## Ratios over the baseline\n\n"
    text += markdown_table(["path / baseline", "concurrent", "median ratio", "p95 ratio", "msg/s ratio"], ratio_table)
    text += "\n## Targets\n\n" + markdown_table(
        ["figure", "value", "target", "met"], [[c["figure"], c["value"], c["target"], c["met"]] for c in found_checks]
    )
    if notes:
        text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    problems = [
        f"{row['target']} x{row['concurrency']}: {sample}" for row in rows for sample in row["sample_unanswered"]
    ]
    problems += [
        f"{row['target']} x{row['concurrency']}: {sample}" for row in rows for sample in row["sample_failures"]
    ]
    if problems:
        text += "\n## Messages without a proper answer (samples)\n\n" + "\n".join(f"- `{p}`" for p in problems) + "\n"
    text += f"\n![latency]({picture.rsplit('/', 1)[-1]})\n"
    write_text("latency.md", text)
    data = {"rows": rows, "ratios": found_ratios, "checks": found_checks, "notes": notes or [], "plot": picture}
    write_json("latency", data)
    print("ratios over baseline:")
    for r in found_ratios:
        print(
            f"  {r['path']}/{r['baseline']} x{r['concurrency']}: median x{r['median_ratio']}, p95 x{r['p95_ratio']},"
            f" msg/s x{r['throughput_ratio']}"
        )
    return data


def stack_notes(stack: Any) -> list[str]:
    if "desk" in stack.processes:
        return ["desk measured through its HTTP API (POST /api/conversations/{id}/messages)"]
    reason = getattr(stack, "desk_error", None)
    return [f"desk not measured: {reason or 'bot.tools.stack has no start_desk yet'}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--seconds", type=float, default=60, help="time limit per target and level")
    parser.add_argument("--no-desk", action="store_true")
    args = parser.parse_args(argv)
    with running_stack(with_desk=not args.no_desk) as stack:
        before = machine_note("before")
        rows = asyncio.run(measure(stack, tuple(args.levels), args.seconds))
        report(rows, [*stack_notes(stack), before, machine_note("after")])
    print("written: results/latency.md, results/latency.json, results/latency.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
