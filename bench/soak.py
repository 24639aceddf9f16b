"""Soak: 50 concurrent conversations for a few minutes; memory must not keep growing and every
message must get its reply. Not part of `make bench`.

    python -m bench.soak [--minutes 3] [--concurrency 50] [--target rest|desk]

Default target: the desk when the stack runs it (the full path), else the REST webhook.
Writes results/soak.{md,json,png}. Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bench.common import markdown_table, median, results_dir, running_stack, write_json, write_text
from bench.load import run_load
from bench.memory_sampler import MemorySampler
from bench.targets import targets_for

GROWTH_LIMIT = 0.10  # last fifth of the run against the first fifth (after warm-up)
MAX_MESSAGES = 200_000


def growth(samples: list[dict[str, Any]], warm_up: int) -> dict[str, float]:
    totals = [sample["total"] for sample in samples[warm_up:]] or [0.0]
    window = max(1, len(totals) // 5)
    first, last = median(totals[:window]), median(totals[-window:])
    count = len(totals)
    mean_x, mean_y = (count - 1) / 2, sum(totals) / count
    spread = sum((x - mean_x) ** 2 for x in range(count)) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(totals)) / spread
    return {
        "first_mb": first,
        "last_mb": last,
        "ratio": (last - first) / first if first else 0.0,
        "slope_mb_per_sample": slope,
    }


def plot(samples: list[dict[str, Any]], interval_s: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4))
    names = sorted({key for sample in samples for key in sample if key != "label"})
    for name in names:
        axis.plot(
            [index * interval_s / 60 for index in range(len(samples))], [s.get(name, 0) for s in samples], label=name
        )
    axis.set(xlabel="minutes", ylabel="MB resident", title="soak: memory over time")
    axis.legend(fontsize=8)
    axis.grid(True, alpha=0.3)
    figure.tight_layout()
    path = results_dir() / "soak.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


async def soak(stack: Any, target_name: str | None, minutes: float, concurrency: int, interval_s: float) -> dict:
    targets = {target.name: target for target in targets_for(stack)}
    target = targets[target_name or ("desk" if "desk" in targets else "rest")]
    async with MemorySampler(stack, interval_s) as sampler:
        sampler.label = f"{target.name}@{concurrency}"
        result = await run_load(target, concurrency, MAX_MESSAGES, minutes * 60)
    figures = result.figures()
    grown = growth(sampler.samples, warm_up=max(1, int(15 / interval_s)))
    checks = [
        {"figure": "messages without a proper reply", "value": f"{figures['unanswered'] + figures['failed']} of {figures['messages']}",
         "target": "0", "met": figures["unanswered"] + figures["failed"] == 0},
        {"figure": "memory growth, last fifth vs first fifth", "value": f"{grown['ratio']:+.1%} ({grown['first_mb']:.0f} → {grown['last_mb']:.0f} MB)",
         "target": f"< {GROWTH_LIMIT:.0%}", "met": grown["ratio"] < GROWTH_LIMIT},
    ]  # fmt: skip
    return {"target": target.name, "figures": figures, "growth": grown, "checks": checks,
            "samples": sampler.samples, "failures": result.failures[:10], "unanswered": result.unanswered_samples, "interval_s": interval_s}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--target", choices=["rest", "desk"])
    parser.add_argument("--no-desk", action="store_true")
    args = parser.parse_args(argv)
    interval = 2.0
    with running_stack(with_desk=not args.no_desk and args.target != "rest") as stack:
        data = asyncio.run(soak(stack, args.target, min(args.minutes, 30.0), args.concurrency, interval))
    picture = plot(data["samples"], interval)
    f = data["figures"]
    text = f"# Soak: {args.concurrency} concurrent conversations, {args.minutes:g} min, target {data['target']}\n\n"
    text += f"{f['messages']} messages, {f['conversations']} conversations, {f['messages_per_s']} msg/s, "
    text += f"median {f['median_ms']} ms, p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms\n\n"
    text += markdown_table(
        ["figure", "value", "target", "met"], [[c["figure"], c["value"], c["target"], c["met"]] for c in data["checks"]]
    )
    text += f"\n![soak]({picture.rsplit('/', 1)[-1]})\n"
    write_text("soak.md", text)
    write_json("soak", data)
    print(text)
    return 0 if all(check["met"] for check in data["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
