"""Accuracy: (a) the held-out NLU evaluation (bot.tools.evaluate) with per-item figures and a
confusion heat map; (b) the outside check on SMP2019 ECDT (see bench/smp2019.py).

    python -m bench.accuracy [--skip-smp2019] [--smp2019 DIR]

Writes results/accuracy.{md,json}, results/accuracy_heldout.{md,json} and results/confusion_heldout.png.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from typing import Any

from bench import smp2019
from bench.common import markdown_table, results_dir, write_json, write_text


def confusion_plot(pairs: list[tuple[str, str]]) -> str:
    """Heat map of expected intent (rows) against predicted intent (columns), row-normalised."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({expected for expected, _ in pairs} | {predicted for _, predicted in pairs})
    index = {label: position for position, label in enumerate(labels)}
    counts = Counter(pairs)
    totals = Counter(expected for expected, _ in pairs)
    grid = [[0.0] * len(labels) for _ in labels]
    for (expected, predicted), count in counts.items():
        grid[index[expected]][index[predicted]] = count / totals[expected]
    size = max(8.0, len(labels) * 0.16)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(grid, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    short = [label.removeprefix("item_") for label in labels]
    axis.set_xticks(range(len(labels)))
    axis.set_yticks(range(len(labels)))
    axis.set_xticklabels(short, rotation=90, fontsize=5)
    axis.set_yticklabels(short, fontsize=5)
    axis.set(xlabel="predicted intent", ylabel="expected intent", title="held-out NLU confusion (row share)")
    for (expected, predicted), count in counts.items():
        if expected != predicted:
            axis.text(index[predicted], index[expected], str(count), ha="center", va="center", fontsize=4, color="red")
    figure.colorbar(image, fraction=0.03)
    figure.tight_layout()
    path = results_dir() / "confusion_heldout.png"
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return str(path)


def heldout() -> dict[str, Any]:
    import logging

    import structlog

    from bot.tools.evaluate import load_examples, summarize, via_agent, write_report
    from bot.tools.stack import train

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    model = train()
    outcomes = asyncio.run(via_agent(model, load_examples()))
    summary = summarize(outcomes, "agent")
    report = write_report(summary, "accuracy_heldout")
    picture = confusion_plot([(outcome.expected, outcome.predicted or "none") for outcome in outcomes])
    intent_right = sum(outcome.expected == outcome.predicted for outcome in outcomes)
    return {
        "examples": summary["examples"],
        "item_accuracy": round(summary["item_accuracy"], 3),
        "general_accuracy": round(summary["general_accuracy"], 3),
        "intent_accuracy": round(intent_right / len(outcomes), 3) if outcomes else 0.0,
        "per_item": summary["per_item"],
        "worst_items": sorted(
            (
                {"item": item, **counts}
                for item, counts in summary["per_item"].items()
                if counts["right"] < counts["total"]
            ),
            key=lambda entry: entry["right"] / entry["total"],
        )[:10],
        "report": str(report),
        "plot": picture,
        "languages": per_language(model),
    }


def per_language(model) -> dict[str, dict[str, Any]]:
    """Each held-out set (one per language, and the harder Chinese one): right item, reply language."""
    from bot.tools.evaluate import load_examples, summarize, test_sets, via_agent

    figures = {}
    for name, (path, language) in test_sets().items():
        summary = summarize(asyncio.run(via_agent(model, load_examples(path))), "agent", language)
        figures[name] = {
            "language": language,
            "examples": summary["examples"],
            "item_accuracy": round(summary["item_accuracy"], 3),
            "general_accuracy": round(summary["general_accuracy"], 3),
            "language_accuracy": round(summary["language_accuracy"], 3),
        }
    return figures


def render(held: dict[str, Any], outside: dict[str, Any]) -> str:
    text = "# Accuracy\n\n## Held-out test set (tests/data/nlu_test.yml, never trained on)\n\n"
    text += markdown_table(
        ["figure", "value"],
        [
            ["examples", held["examples"]],
            ["right guide item answered (in-scope)", f"{held['item_accuracy']:.1%}"],
            ["general intents right", f"{held['general_accuracy']:.1%}"],
            ["raw intent accuracy (all examples)", f"{held['intent_accuracy']:.1%}"],
        ],
    )
    text += f"\nPer item: {held['report'].rsplit('/', 1)[-1]}; weakest items:\n\n"
    text += markdown_table(
        ["item", "right / total"], [[w["item"], f"{w['right']} / {w['total']}"] for w in held["worst_items"]]
    )
    text += "\n![confusion](confusion_heldout.png)\n\n## Per language (tests/data/nlu_test_*.yml)\n\n"
    text += markdown_table(
        ["set", "language", "questions", "right item", "general right", "understood in its language"],
        [
            [
                name,
                f["language"],
                f["examples"],
                f"{f['item_accuracy']:.1%}",
                f"{f['general_accuracy']:.1%}",
                f"{f['language_accuracy']:.1%}",
            ]
            for name, f in held["languages"].items()
        ],
    )
    text += "\n## Outside check: SMP2019 ECDT (Chinese intents)\n\n"
    published = outside["published"]
    if outside["status"] != "ok":
        return text + f"{outside['status']} (published {published['pipeline']}: F1 {published['f1']})\n"
    text += (
        f"Data: {outside['train_examples']} training / {outside['test_examples']} test examples "
        f"(nghuyong/rasa-nlu-benchmark split). Pipeline: config.yml without {', '.join(outside['dropped'])} "
        f"(written to a temporary config): {' → '.join(name.rsplit('.', 1)[-1] for name in outside['pipeline'])}.\n\n"
    )
    text += markdown_table(
        ["figure", "ours (config.yml pipeline)", f"published ({published['pipeline']})"],
        [
            ["accuracy", outside["accuracy"], published["accuracy"]],
            ["F1 weighted (Rasa's report; comparable to published)", outside["weighted_f1"], published["f1"]],
            ["F1 macro", outside["macro_f1"], "—"],
            [
                "precision / recall (weighted)",
                f"{outside['weighted_precision']} / {outside['weighted_recall']}",
                "0.83 / 0.76",
            ],
        ],
    )
    text += "\n" + markdown_table(
        ["intent", "F1", "test support"], [[k, v["f1"], v["support"]] for k, v in sorted(outside["per_intent"].items())]
    )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-smp2019", action="store_true")
    parser.add_argument("--smp2019", help="directory with SMP2019 train.md/test.md (default: bench/data/smp2019)")
    args = parser.parse_args(argv)
    held = heldout()
    print(f"  held-out: item accuracy {held['item_accuracy']:.1%}, general {held['general_accuracy']:.1%}")
    for name, figures in held["languages"].items():
        print(f"  held-out {name}: item accuracy {figures['item_accuracy']:.1%}")
    outside = (
        {"status": "skipped: not asked", "published": smp2019.PUBLISHED}
        if args.skip_smp2019
        else smp2019.run(args.smp2019)
    )
    if outside["status"] == "ok":
        print(
            f"  SMP2019 (config.yml pipeline without {', '.join(outside['dropped'])}, temp config): "
            f"accuracy {outside['accuracy']:.3f}, weighted F1 {outside['weighted_f1']:.3f}, macro F1 {outside['macro_f1']:.3f}"
            f" — published {outside['published']['pipeline']}: accuracy {outside['published']['accuracy']}, F1 {outside['published']['f1']}"
        )
    else:
        print(f"  SMP2019: {outside['status']}")
    write_text("accuracy.md", render(held, outside))
    write_json("accuracy", {"heldout": held, "smp2019": outside})
    print("written: results/accuracy.md, results/accuracy.json, results/confusion_heldout.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
