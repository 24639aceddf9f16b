"""NLU evaluation on the held-out test set (tests/data/nlu_test.yml).

Two ways to ask: in-process through Rasa's Agent (`--via agent`), or through
the REST webhook of a running server (`--via rest --url ...`), which also
measures the round-trip time and checks the answer contract. Writes
results/nlu_report.md and results/nlu_report.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge import item_for
from bot.knowledge.store import PROJECT_ROOT

TEST_SET = PROJECT_ROOT / "tests" / "data" / "nlu_test.yml"
RESULTS = PROJECT_ROOT / "results"
HANDOFF_INTENTS = {"request_human", "complain"}


def load_examples(path: Path = TEST_SET) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = []
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.append((block["intent"], line[2:].strip()))
    return examples


@dataclass
class Outcome:
    expected: str
    text: str
    predicted: str
    confidence: float
    item: str | None = None  # the item the assistant answered from (REST) or picked (agent)
    candidates: list[str] = field(default_factory=list)
    behaviour: str = ""
    latency_ms: float | None = None


def behaviour_of(messages: list[dict[str, Any]]) -> tuple[str, str | None, list[str]]:
    """What the bot did, read from the machine-readable `custom` payloads."""
    for message in messages:
        custom = message.get("custom") or {}
        if "guide_item" in custom:
            return "answer", custom["guide_item"], []
        if "handoff" in custom:
            return "handoff", None, []
        if custom.get("candidates"):
            return "clarify", None, list(custom["candidates"])
        if custom.get("out_of_scope"):
            return "out_of_scope", None, []
        if "case" in custom:
            return "case", None, []
    return "other", None, []


def expected_behaviour(intent: str) -> str:
    if item_for(intent):
        return "answer"
    if intent in HANDOFF_INTENTS:
        return "handoff"
    if intent == "out_of_scope":
        return "out_of_scope"
    return "other"


async def via_agent(model: Path, examples: list[tuple[str, str]]) -> list[Outcome]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from bot.actions.understanding import candidates, is_clear

    configure_structlog(logging.WARNING)  # Rasa logs every parsed text at debug level

    agent = Agent.load(str(model))
    outcomes = []
    for expected, text in examples:
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        ranking = [(item_for(e["name"]), e["confidence"]) for e in parsed.get("intent_ranking", [])]
        ranking = [(item, conf) for item, conf in ranking if item]
        predicted = intent.get("name") or ""
        outcome = Outcome(expected, text, predicted, float(intent.get("confidence") or 0.0), item=item_for(predicted))
        if outcome.item:
            clear = is_clear(ranking) or len(candidates(ranking)) <= 1
            outcome.behaviour = "answer" if clear else "clarify"
            outcome.candidates = [] if clear else candidates(ranking)
        outcomes.append(outcome)
    return outcomes


async def via_rest(url: str, examples: list[tuple[str, str]]) -> list[Outcome]:
    import aiohttp

    outcomes = []
    async with aiohttp.ClientSession() as session:
        for expected, text in examples:
            started = time.perf_counter()
            async with session.post(
                f"{url}/webhooks/rest/webhook", json={"sender": f"eval-{uuid.uuid4().hex}", "message": text}
            ) as reply:
                messages = await reply.json()
            latency = (time.perf_counter() - started) * 1000
            behaviour, item, cands = behaviour_of(messages)
            outcomes.append(
                Outcome(expected, text, "", 0.0, item=item, candidates=cands, behaviour=behaviour, latency_ms=latency)
            )
    return outcomes


def summarize(outcomes: list[Outcome], via: str) -> dict[str, Any]:
    per_item: dict[str, Counter] = defaultdict(Counter)
    confusions: Counter = Counter()
    general = Counter()
    for outcome in outcomes:
        expected_item = item_for(outcome.expected)
        if expected_item:
            right = outcome.item == expected_item and outcome.behaviour == "answer"
            per_item[expected_item]["total"] += 1
            per_item[expected_item]["right"] += right
            per_item[expected_item]["clarified_with_right_item"] += (
                outcome.behaviour == "clarify" and expected_item in outcome.candidates
            )
            if not right:
                confusions[(expected_item, outcome.item or outcome.behaviour)] += 1
        else:
            general["total"] += 1
            if via == "agent":
                general["right"] += outcome.predicted == outcome.expected
            else:
                wanted = expected_behaviour(outcome.expected)
                general["right"] += (
                    outcome.behaviour == wanted if wanted != "other" else outcome.behaviour not in ("answer",)
                )
    in_scope = sum(c["total"] for c in per_item.values())
    right = sum(c["right"] for c in per_item.values())
    clarified = sum(c["clarified_with_right_item"] for c in per_item.values())
    latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    summary: dict[str, Any] = {
        "via": via,
        "examples": len(outcomes),
        "in_scope": in_scope,
        "item_accuracy": right / in_scope if in_scope else 0.0,
        "clarified_with_right_item": clarified / in_scope if in_scope else 0.0,
        "general_accuracy": general["right"] / general["total"] if general["total"] else 0.0,
        "per_item": {item: {"total": c["total"], "right": c["right"]} for item, c in sorted(per_item.items())},
        "confusions": [{"expected": e, "got": g, "count": n} for (e, g), n in confusions.most_common()],
        "errors": [
            {
                "expected": o.expected,
                "text": o.text,
                "predicted": o.predicted or o.behaviour,
                "item": o.item,
                "confidence": round(o.confidence, 3),
            }
            for o in outcomes
            if (item_for(o.expected) and not (o.item == item_for(o.expected) and o.behaviour == "answer"))
            or (not item_for(o.expected) and via == "agent" and o.predicted != o.expected)
        ],
    }
    if latencies:
        ordered = sorted(latencies)
        summary["latency_ms"] = {
            "median": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1],
        }
    return summary


def write_report(summary: dict[str, Any], name: str = "nlu_report", directory: Path = RESULTS) -> Path:
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    lines = [
        f"# NLU evaluation ({summary['via']})",
        "",
        f"- examples: {summary['examples']} (in scope: {summary['in_scope']})",
        f"- right guide item answered: {summary['item_accuracy']:.1%}",
        f"- clarified with the right item among the choices: {summary['clarified_with_right_item']:.1%}",
        f"- general intents / behaviours right: {summary['general_accuracy']:.1%}",
    ]
    if "latency_ms" in summary:
        latency = summary["latency_ms"]
        lines.append(
            f"- REST round trip: median {latency['median']:.0f} ms, p95 {latency['p95']:.0f} ms, max {latency['max']:.0f} ms"
        )
    lines += ["", "## Per item", "", "| item | right / total |", "|---|---|"]
    lines += [f"| {item} | {c['right']} / {c['total']} |" for item, c in summary["per_item"].items()]
    lines += ["", "## Errors", "", "| expected | got | confidence | text |", "|---|---|---|---|"]
    lines += [
        f"| {e['expected']} | {e['item'] or e['predicted']} | {e['confidence']} | {e['text'].replace('|', '/')} |"
        for e in summary["errors"]
    ]
    path = directory / f"{name}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--via", choices=["agent", "rest"], default="agent")
    parser.add_argument("--model", type=Path, help="model archive (default: the latest in models/)")
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--test-set", type=Path, default=TEST_SET)
    parser.add_argument("--name", default="nlu_report")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where the report goes (default: results/)")
    args = parser.parse_args(argv)
    examples = load_examples(args.test_set)
    if args.via == "agent":
        from bot.tools.stack import latest_model

        outcomes = asyncio.run(via_agent(args.model or latest_model(), examples))
    else:
        outcomes = asyncio.run(via_rest(args.url, examples))
    summary = summarize(outcomes, args.via)
    path = write_report(summary, args.name, args.out_dir)
    print(f"item accuracy {summary['item_accuracy']:.1%}, general {summary['general_accuracy']:.1%}; report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
