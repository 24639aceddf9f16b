"""`make bench`: training time, memory idle and under load, latency/throughput, accuracy;
then a summary table (figure, target, met?) printed and written to results/bench_summary.md.

    python -m bench.run_all [--quick] [--skip-training] [--no-desk]

One stack serves the latency and memory runs (memory is sampled while the latency load runs).
The soak (bench/soak.py) is not part of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench import accuracy, latency, memory, smp2019, training
from bench.common import machine_note, markdown_table, running_stack, write_json, write_text
from bench.memory_sampler import MemorySampler


def load_and_memory(levels: tuple[int, ...], seconds: float, with_desk: bool) -> tuple[dict, dict]:
    with running_stack(with_desk=with_desk) as stack:
        idle_mb = memory.idle(stack)

        async def measured() -> tuple[list[dict[str, Any]], MemorySampler]:
            async with MemorySampler(stack) as sampler:
                rows = await latency.measure(stack, levels, seconds, sampler)
            return rows, sampler

        rows, sampler = asyncio.run(measured())
        found = latency.report(rows, latency.stack_notes(stack))
        if getattr(stack, "profile", None):
            found["profile"] = stack.profile.report()
        return found, memory.report(idle_mb, sampler)


def summary_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []

    def add(check: dict[str, Any]) -> None:
        met = {True: "yes", False: "NO", None: "n/a"}[check["met"]]
        rows.append([check["figure"], check["value"], check["target"], met])

    if "training" in results:
        add(results["training"]["check"])
        nlu = results["training"]["rows"][1]
        add({"figure": "NLU-only retrain wall time", "value": f"{nlu['seconds']:.0f} s", "target": "—", "met": None})
    for check in results["latency"]["checks"]:
        add(check)
    for row in results["latency"]["rows"]:
        if row["concurrency"] == 10:
            pacing = "closed loop" if row.get("pacing", "none") == "none" else f"paced {row['pacing']}"
            add({"figure": f"{row['label']} @10 {pacing}: median / p99 / msg/s", "met": None, "target": "—",
                 "value": f"{row['median_ms']:.0f} ms / {row['p99_ms']:.0f} ms / {row['messages_per_s']:.0f}"})  # fmt: skip
    add(results["memory"]["check"])
    held = results["accuracy"]["heldout"]
    add({"figure": "held-out: right guide item", "value": f"{held['item_accuracy']:.1%}", "target": "—", "met": None})
    targets = {"zh": 0.97, "zh_hard": 0.95, "it": 0.90, "fr": 0.90, "en": 0.90}
    for name, figures in held.get("languages", {}).items():
        target = targets.get(name)
        add({"figure": f"held-out {name}: right guide item", "value": f"{figures['item_accuracy']:.1%}",
             "target": f">= {target:.0%}" if target else "—",
             "met": figures["item_accuracy"] >= target if target else None})  # fmt: skip
    outside = results["accuracy"]["smp2019"]
    published = outside["published"]
    if outside["status"] == "ok":
        add({"figure": "SMP2019 weighted F1 (ours vs published)", "target": f">= published {published['f1']}",
             "value": f"{outside['weighted_f1']:.3f} (macro {outside['macro_f1']:.3f}, acc {outside['accuracy']:.3f})",
             "met": outside["weighted_f1"] >= published["f1"]})  # fmt: skip
    else:
        add({"figure": "SMP2019 F1", "value": outside["status"], "target": f"published {published['f1']}", "met": None})
    add({"figure": "make bench wall time", "value": f"{results['wall_s'] / 60:.1f} min", "target": "< 15 min",
         "met": results["wall_s"] < 15 * 60})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="levels 1 and 10 only, 20 s per level, no SMP2019")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--no-desk", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    machine = [machine_note("before")]
    results: dict[str, Any] = {}
    if not args.skip_training:
        print("== training", flush=True)
        results["training"] = training.measure()
    print("== latency, throughput and memory", flush=True)
    levels = (1, 10) if args.quick else latency.LEVELS
    results["latency"], results["memory"] = load_and_memory(levels, 20 if args.quick else 60, not args.no_desk)
    print("== accuracy", flush=True)
    held = accuracy.heldout()
    outside = {"status": "skipped: --quick", "published": smp2019.PUBLISHED} if args.quick else smp2019.run()
    write_text("accuracy.md", accuracy.render(held, outside))
    results["accuracy"] = {"heldout": held, "smp2019": outside}
    write_json("accuracy", results["accuracy"])
    results["wall_s"] = time.perf_counter() - started
    table = markdown_table(["figure", "value", "target", "met?"], summary_rows(results))
    machine.append(machine_note("after"))
    notes = "\n".join(f"- {note}" for note in results["latency"]["notes"] + machine)
    text = (
        "# Benchmark summary\n\n"
        + table
        + "\n"
        + notes
        + "\n\nDetails: latency.md, memory.md, training.md, accuracy.md; where the CPU goes: profile.md.\n"
    )
    write_text("bench_summary.md", text)
    print("\n" + table + notes)
    print("written: results/bench_summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
