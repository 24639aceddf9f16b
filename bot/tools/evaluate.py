"""NLU evaluation on the held-out test sets (tests/data/nlu_test*.yml, never trained on).

The sets: `nlu_test.yml` (Chinese), `nlu_test_<language>.yml` (Italian, French, English...) and
`nlu_test_zh_hard.yml` (long, voice-typed, traditional, foreign words mixed in). Two ways to ask:
in-process through Rasa's Agent (`--via agent`), or through the REST webhook of a running server
(`--via rest --url ...`), which also measures the round-trip time and checks the answer contract,
including that the reply is in the question's language. Writes results/nlu_report.{md,json} for the
Chinese set, results/nlu_report_<set>.{md,json} for each other set, and the per-language summary
results/nlu_languages.{md,json}.
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

TEST_DATA = PROJECT_ROOT / "tests" / "data"
TEST_SET = TEST_DATA / "nlu_test.yml"
RESULTS = PROJECT_ROOT / "results"
HANDOFF_INTENTS = {"request_human", "complain"}


def test_sets() -> dict[str, tuple[Path, str]]:
    """Every held-out set: name -> (path, the language its questions are in)."""
    from bot.i18n import load_languages

    languages = load_languages()
    sets = {"zh": (TEST_SET, languages.default)}
    for path in sorted(TEST_DATA.glob("nlu_test_*.yml")):
        name = path.stem.removeprefix("nlu_test_")
        code = name.split("_")[0]
        sets[name] = (path, code if code in languages.supported else languages.default)
    return sets


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
    language: str | None = None  # the language the bot answered in (REST) or understood (agent)


def language_of(messages: list[dict[str, Any]]) -> str | None:
    """The language of the bot's reply: every bot message says it in `custom.language`."""
    languages = {(message.get("custom") or {}).get("language") for message in messages}
    return languages.pop() if len(languages) == 1 else None


def behaviour_of(messages: list[dict[str, Any]]) -> tuple[str, str | None, list[str]]:
    """What the bot did, read from the machine-readable `custom` payloads."""
    for message in messages:
        custom = message.get("custom") or {}
        if custom.get("unsupported_language"):
            return "unsupported_language", None, []
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
        found = {e["entity"]: e["value"] for e in parsed.get("entities", []) if e["entity"].startswith("language")}
        outcome.language = found.get("language") or found.get("language_guess")
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
                Outcome(
                    expected,
                    text,
                    "",
                    0.0,
                    item=item,
                    candidates=cands,
                    behaviour=behaviour,
                    latency_ms=latency,
                    language=language_of(messages),
                )
            )
    return outcomes


def summarize(outcomes: list[Outcome], via: str, language: str | None = None) -> dict[str, Any]:
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
        "language": language,
        # Replies (REST) or understandings (agent) in the questions' language; the default language
        # counts when nothing was detected, as the bot then answers in it.
        "language_accuracy": (
            sum((o.language or "zh") == language for o in outcomes) / len(outcomes) if outcomes and language else None
        ),
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
    if language:
        summary["language_errors"] = [
            {"expected": o.expected, "text": o.text, "language": o.language}
            for o in outcomes
            if (o.language or "zh") != language
        ]
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
    if summary.get("language_accuracy") is not None:
        lines.append(f"- in the questions' language ({summary['language']}): {summary['language_accuracy']:.1%}")
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


def write_languages(summaries: dict[str, dict[str, Any]], via: str, directory: Path = RESULTS) -> Path:
    """One table: each held-out set with its language, item accuracy and reply-language accuracy."""
    rows = {
        name: {
            key: summary.get(key)
            for key in ("language", "examples", "in_scope", "item_accuracy", "general_accuracy", "language_accuracy")
        }
        | ({"latency_ms": summary["latency_ms"]} if "latency_ms" in summary else {})
        for name, summary in summaries.items()
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nlu_languages.json").write_text(json.dumps({"via": via, "sets": rows}, indent=2), encoding="utf-8")
    lines = [
        f"# NLU evaluation per language ({via})",
        "",
        "| set | language | questions | right item | general right | in its language |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        language_right = f"{row['language_accuracy']:.1%}" if row["language_accuracy"] is not None else "—"
        lines.append(
            f"| {name} | {row['language']} | {row['examples']} | {row['item_accuracy']:.1%} | "
            f"{row['general_accuracy']:.1%} | {language_right} |"
        )
    path = directory / "nlu_languages.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def evaluate_sets(
    via: str,
    sets: dict[str, tuple[Path, str]],
    model: Path | None,
    url: str,
    report: str = "nlu_report",
    directory: Path = RESULTS,
) -> dict[str, dict]:
    summaries = {}
    for name, (path, language) in sets.items():
        examples = load_examples(path)
        if via == "agent":
            from bot.tools.stack import latest_model

            outcomes = asyncio.run(via_agent(model or latest_model(), examples))
        else:
            outcomes = asyncio.run(via_rest(url, examples))
        summaries[name] = summarize(outcomes, via, language)
        write_report(summaries[name], report if name == "zh" else f"{report}_{name}", directory)
    return summaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--via", choices=["agent", "rest"], default="agent")
    parser.add_argument("--model", type=Path, help="model archive (default: the latest in models/)")
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--set", action="append", help="a held-out set by name (zh, it, fr, en, zh_hard); default all")
    parser.add_argument("--name", default="nlu_report", help="report name of the Chinese set; others get _<set>")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where the reports go (default: results/)")
    args = parser.parse_args(argv)
    sets = test_sets()
    chosen = {name: sets[name] for name in args.set} if args.set else sets
    summaries = evaluate_sets(args.via, chosen, args.model, args.url, args.name, args.out_dir)
    path = write_languages(summaries, args.via, args.out_dir)
    for name, summary in summaries.items():
        language = summary.get("language_accuracy")
        print(
            f"{name}: item accuracy {summary['item_accuracy']:.1%}, general {summary['general_accuracy']:.1%}"
            + (f", in its language {language:.1%}" if language is not None else "")
        )
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
