"""Resident memory (VmRSS, children included) of each process of the stack, idle and under load.

    python -m bench.memory [--seconds 40]

Target (issue 5): under 1.5 GB for the whole stack. Writes results/memory.{md,json,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench.common import markdown_table, results_dir, running_stack, stack_rss_mb, write_json, write_text
from bench.load import run_load
from bench.memory_sampler import MemorySampler
from bench.targets import targets_for

TARGET_MB = 1536.0


def idle(stack: Any, settle_s: float = 3.0) -> dict[str, float]:
    time.sleep(settle_s)
    figures = stack_rss_mb(stack)
    figures["total"] = round(sum(figures.values()), 1)
    return figures


async def loaded(stack: Any, seconds: float = 40, concurrency: int = 50) -> MemorySampler:
    """The conversational targets (not bare parse) at `concurrency` citizens, memory sampled."""
    async with MemorySampler(stack) as sampler:
        for target in targets_for(stack):
            if target.name == "parse":
                continue
            sampler.label = f"{target.name}@{concurrency}"
            await run_load(target, concurrency, concurrency * 20, seconds)
    return sampler


def plot(idle_mb: dict[str, float], peak_mb: dict[str, float], samples: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in idle_mb if name != "total"] + ["total"]
    figure, (bars, line) = plt.subplots(1, 2, figsize=(11, 4))
    positions = range(len(names))
    bars.bar([p - 0.2 for p in positions], [idle_mb.get(n, 0) for n in names], width=0.4, label="idle")
    bars.bar([p + 0.2 for p in positions], [peak_mb.get(n, 0) for n in names], width=0.4, label="peak under load")
    bars.axhline(TARGET_MB, color="red", linestyle=":", linewidth=0.8, label="target (whole stack)")
    bars.set_xticks(list(positions))
    bars.set_xticklabels(names)
    bars.set(ylabel="MB resident", title="memory per process")
    bars.legend(fontsize=8)
    for name in names:
        line.plot([sample.get(name, 0) for sample in samples], label=name)
    line.set(xlabel="sample (every 0.5 s)", ylabel="MB resident", title="during the load")
    line.legend(fontsize=8)
    figure.tight_layout()
    path = results_dir() / "memory.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def report(idle_mb: dict[str, float], sampler: MemorySampler) -> dict[str, Any]:
    peak = sampler.peak()
    picture = plot(idle_mb, peak, sampler.samples)
    names = [name for name in idle_mb if name != "total"] + ["total"]
    rows = [[name, idle_mb.get(name, 0.0), peak.get(name, 0.0)] for name in names]
    met = peak.get("total", 0.0) < TARGET_MB
    check = {
        "figure": "whole stack resident memory, peak under load",
        "value": f"{peak.get('total', 0.0):.0f} MB",
        "target": f"< {TARGET_MB:.0f} MB",
        "met": met,
    }
    text = "# Resident memory (VmRSS incl. child processes, MB)\n\n"
    text += markdown_table(["process", "idle", "peak under load"], rows)
    text += f"\nTarget: whole stack under {TARGET_MB:.0f} MB — {'met' if met else 'MISSED'}.\n"
    text += f"\n![memory]({picture.rsplit('/', 1)[-1]})\n"
    write_text("memory.md", text)
    data = {"idle_mb": idle_mb, "peak_mb": peak, "check": check, "samples": sampler.samples, "plot": picture}
    write_json("memory", data)
    for name, idle_value, peak_value in rows:
        print(f"  {name:>8}: idle {idle_value:7.1f} MB   peak under load {peak_value:7.1f} MB")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=40, help="load time per conversational target")
    parser.add_argument("--no-desk", action="store_true")
    args = parser.parse_args(argv)
    with running_stack(with_desk=not args.no_desk) as stack:
        idle_mb = idle(stack)
        sampler = asyncio.run(loaded(stack, args.seconds))
        report(idle_mb, sampler)
    print("written: results/memory.md, results/memory.json, results/memory.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
