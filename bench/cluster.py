"""`make bench-cluster`: throughput and p95 through HAProxy at 10, 50 and 200 concurrent conversations,
with the single-node stack (one desk, one Rasa server, one action server, SQLite) measured in the same run.

Each simulated citizen sends a message through the desk's HTTP API, waits for the bot's answer, and sends
the next one at once (closed loop): throughput is answered messages per second, latency the round trip of
one message (stored, through Rasa and the action server, answer stored). Writes results/bench_cluster.md,
.json and .png. `python -m bench.cluster --seconds 20 --levels 10,50,200`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import LIFTED_LIMITS, machine_note, markdown_table, percentile, results_dir, write_json, write_text
from bot.desk.ids import issue_id  # the desks on this host share var/desk_id_secret

TURNS = ["护照过期了怎么换", "那要多少钱？", "需要什么材料", "在哪里办理", "办多久"]


async def _citizen(http: aiohttp.ClientSession, url: str, until: float, latencies: list[float], errors: list[str]) -> None:
    conversation = issue_id()
    number = 0
    while time.monotonic() < until:
        start = time.monotonic()
        try:
            async with http.post(
                f"{url}/api/conversations/{conversation}/messages",
                json={"message": TURNS[number % len(TURNS)]},
                timeout=aiohttp.ClientTimeout(total=60),
            ) as reply:
                try:
                    body = await reply.json(content_type=None)
                except ValueError:
                    # Not the desk's JSON: HAProxy's own error page (503 when it holds every desk down).
                    errors.append(f"status {reply.status}, not JSON")
                    await asyncio.sleep(0.5)
                    continue
                answered = reply.status == 200 and any(line["sender"] == "bot" for line in body.get("replies", []))
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            errors.append(type(error).__name__)
            await asyncio.sleep(0.5)
            continue
        if answered:
            latencies.append(time.monotonic() - start)
        else:
            errors.append(f"status {reply.status}, not answered by the bot")
            # A conversation handed to a clerk (bot down, slow) is no use for measuring the bot: a new one.
            conversation = issue_id()
        number += 1


async def measure(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency + 10)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.monotonic()
        until = start + seconds
        await asyncio.gather(*(_citizen(http, url, until, latencies, errors) for _ in range(concurrency)))
        elapsed = time.monotonic() - start
    return {
        "concurrency": concurrency,
        "answered": len(latencies),
        "errors": len(errors),
        "throughput": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1000),
        "p95_ms": round(percentile(latencies, 0.95) * 1000),
        # What failed, so that a figure says whether the bot was slow (not answered) or a connection was lost.
        "error_kinds": dict(Counter(errors).most_common(4)),
    }


def run_levels(url: str, levels: list[int], seconds: float, warm_up: float = 5) -> list[dict[str, Any]]:
    asyncio.run(measure(url, 5, warm_up))  # first messages load lazily-built parts; not measured
    return [asyncio.run(measure(url, level, seconds)) for level in levels]


def single_node(model: Path, levels: list[int], seconds: float) -> list[dict[str, Any]]:
    from bot.db import Database, seed
    from bot.tools.stack import Stack

    with tempfile.TemporaryDirectory(prefix="wz-bench-single-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed(Database(url))
        stack = Stack(model=model, database_url=url, workdir=Path(tmp) / "var", extra_env=LIFTED_LIMITS)
        try:
            stack.start()
            stack.start_desk()
            return run_levels(stack.desk_url, levels, seconds)
        finally:
            stack.stop()


def cluster(model: Path, levels: list[int], seconds: float) -> list[dict[str, Any]]:
    from bot.tools.cluster import Cluster, ClusterConfig

    with tempfile.TemporaryDirectory(prefix="wz-bench-cluster-") as tmp:
        running = Cluster(ClusterConfig.load().on_free_ports(), model, Path(tmp), extra_env=LIFTED_LIMITS, data_dir=Path(tmp))
        try:
            running.start()
            return run_levels(running.config.url("desk"), levels, seconds)
        finally:
            running.stop()


def plot(single: list[dict[str, Any]], clustered: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for rows, label in ((single, "single node (SQLite)"), (clustered, "cluster: 2+2+2 behind HAProxy (PostgreSQL, Redis)")):
        levels = [row["concurrency"] for row in rows]
        left.plot(levels, [row["throughput"] for row in rows], marker="o", label=label)
        right.plot(levels, [row["p95_ms"] for row in rows], marker="o", label=label)
    left.set(xscale="log", xlabel="concurrent conversations", ylabel="answered messages / s", title="throughput")
    right.set(xscale="log", xlabel="concurrent conversations", ylabel="p95 round trip (ms)", title="p95 latency")
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
        axis.set_xticks([row["concurrency"] for row in single], [str(row["concurrency"]) for row in single])
    left.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--levels", default="10,50,200")
    args = parser.parse_args(argv)
    from bot.tools.stack import train

    levels = [int(level) for level in args.levels.split(",")]
    model = train().resolve()
    before = machine_note("before")
    single = single_node(model, levels, args.seconds)
    clustered = cluster(model, levels, args.seconds)
    after = machine_note("after")
    write_json("bench_cluster", {"single": single, "cluster": clustered, "seconds": args.seconds, "machine": [before, after]})
    plot(single, clustered, results_dir() / "bench_cluster.png")
    headers = ["conversations", "single msg/s", "single p95 ms", "single errors", "cluster msg/s", "cluster p95 ms", "cluster errors"]
    rows = [
        [s["concurrency"], s["throughput"], s["p95_ms"], s["errors"], c["throughput"], c["p95_ms"], c["errors"]]
        for s, c in zip(single, clustered, strict=True)
    ]
    report = "\n".join(
        [
            "# The cluster against the single node (make bench-cluster)",
            "",
            f"Closed loop, {args.seconds:.0f} s per level; one message = stored, Rasa, action server, answer stored.",
            "",
            markdown_table(headers, rows),
            "Errors by kind: "
            + "; ".join(
                f"{setup} at {row['concurrency']}: {row['error_kinds']}"
                for setup, rows_ in (("single", single), ("cluster", clustered))
                for row in rows_
                if row["error_kinds"]
            ),
            "",
            "![throughput and p95](bench_cluster.png)",
            "",
            before,
            after,
            "",
        ]
    )
    write_text("bench_cluster.md", report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
