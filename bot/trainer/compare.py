"""Compares a candidate model with the live one on the held-out test set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.knowledge import load_knowledge

# A candidate may not be worse than the live model by more than this
# (one question in about 300) without an admin's override.
TOLERANCE = 0.003


def _errors(report: dict[str, Any] | None) -> set[tuple[str, str]]:
    return {(error["expected"], error["text"]) for error in (report or {}).get("errors", [])}


def per_language(
    candidates: dict[str, dict[str, Any]], lives: dict[str, dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Item accuracy per language's held-out set, candidate against live; `worse` beyond the tolerance."""
    rows = []
    for language, report in candidates.items():
        live = (lives or {}).get(language)
        live_rate = live["item_accuracy"] if live else None
        rate = report["item_accuracy"]
        rows.append(
            {
                "language": language,
                "candidate": rate,
                "live": live_rate,
                "delta": None if live_rate is None else rate - live_rate,
                "worse": live_rate is not None and rate < live_rate - TOLERANCE,
            }
        )
    return rows


def compare(
    candidate: dict[str, Any],
    live: dict[str, Any] | None,
    languages: dict[str, dict[str, Any]] | None = None,
    live_languages: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The candidate against the live model on the Chinese set (per item), and on every language's
    set when `languages` (language -> report) is given: worse in any language is worse than live."""
    knowledge = load_knowledge()
    per_item = []
    for item, figures in candidate["per_item"].items():
        live_figures = (live or {}).get("per_item", {}).get(item)
        rate = figures["right"] / figures["total"] if figures["total"] else 0.0
        live_rate = live_figures["right"] / live_figures["total"] if live_figures and live_figures["total"] else None
        per_item.append(
            {
                "item": item,
                "title": knowledge.title(item) if knowledge.guide(item) else item,
                "candidate": rate,
                "live": live_rate,
                "delta": None if live_rate is None else rate - live_rate,
            }
        )
    per_item.sort(key=lambda row: (row["delta"] if row["delta"] is not None else 0.0, row["item"]))
    candidate_errors, live_errors = _errors(candidate), _errors(live)
    summary = {
        "candidate": {k: candidate[k] for k in ("item_accuracy", "general_accuracy", "examples")},
        "live": {k: live[k] for k in ("item_accuracy", "general_accuracy", "examples")} if live else None,
        "per_item": per_item,
        "better": [{"expected": e, "text": t} for e, t in sorted(live_errors - candidate_errors)] if live else [],
        "worse": [{"expected": e, "text": t} for e, t in sorted(candidate_errors - live_errors)] if live else [],
    }
    if live:
        summary["delta"] = {k: candidate[k] - live[k] for k in ("item_accuracy", "general_accuracy")}
        summary["worse_than_live"] = candidate["item_accuracy"] < live["item_accuracy"] - TOLERANCE
    else:
        summary["delta"] = None
        summary["worse_than_live"] = False
    rows = per_language(languages or {}, live_languages if live else None)
    summary["per_language"] = rows
    summary["worse_languages"] = [row["language"] for row in rows if row["worse"]]
    summary["worse_than_live"] = summary["worse_than_live"] or bool(summary["worse_languages"])
    return summary


def confusion_picture(report: dict[str, Any], path: Path) -> Path:
    """Heat map of which item was taken for which, over the items involved in errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusions = report.get("confusions", [])
    labels = sorted({c["expected"] for c in confusions} | {c["got"] for c in confusions}) or ["(none)"]
    index = {label: i for i, label in enumerate(labels)}
    grid = [[0] * len(labels) for _ in labels]
    for c in confusions:
        grid[index[c["expected"]]][index[c["got"]]] += c["count"]
    size = max(4.0, 0.35 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(grid, cmap="Reds")
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    axes.set_yticks(range(len(labels)), labels, fontsize=7)
    axes.set_xlabel("answered as")
    axes.set_ylabel("asked about")
    axes.set_title(f"Held-out errors: item accuracy {report['item_accuracy']:.1%}")
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
