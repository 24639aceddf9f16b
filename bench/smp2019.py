"""The outside check: the project's pipeline trained and tested on SMP2019 ECDT (Chinese intents).

The data (bench/data/smp2019, MIT, from nghuyong/rasa-nlu-benchmark) is Rasa 1.x Markdown;
it is converted to Rasa 3 YAML in a temporary directory. The pipeline is config.yml's
tokenizer, featurizers and classifier, without the components that read our knowledge base
(KnowledgeEntityExtractor, GuideItemRanker) and without FallbackClassifier (the published
baseline has no fallback; a fallback prediction would count as a wrong intent).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.store import PROJECT_ROOT
from bot.tools.rasa_cli import RASA, quiet_env
from bot.tools.stack import latest_model

DATA_DIR = PROJECT_ROOT / "bench" / "data" / "smp2019"
DROPPED = ("KnowledgeEntityExtractor", "GuideItemRanker", "FallbackClassifier")
PUBLISHED = {"pipeline": "rasa_nlu_chi (jieba + MITIE + sklearn)", "accuracy": 0.76, "f1": 0.78}
LIMIT_S = 900


def data_dir(explicit: str | None = None) -> Path | None:
    for candidate in (explicit, os.environ.get("SMP2019_DIR"), str(DATA_DIR)):
        if candidate and (Path(candidate) / "train.md").is_file() and (Path(candidate) / "test.md").is_file():
            return Path(candidate)
    return None


def markdown_to_yaml(source: Path, target: Path) -> int:
    """Rasa 1.x Markdown NLU (`## intent:x` then `- example`) to Rasa 3 YAML; returns the examples."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("## intent:"):
            current = line[len("## intent:") :].strip()
            blocks.setdefault(current, [])
        elif line.startswith("- ") and current is not None and line[2:].strip():
            blocks[current].append(line[2:].strip())
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in blocks.items():
        lines += [f"- intent: {json.dumps(intent)}", "  examples: |"]
        lines += [f"    - {example}" for example in examples]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sum(len(examples) for examples in blocks.values())


def derived_config(target: Path) -> list[str]:
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    pipeline = [step for step in config["pipeline"] if not step["name"].endswith(DROPPED)]
    derived = {"recipe": "default.v1", "language": config.get("language", "zh"), "pipeline": pipeline, "policies": []}
    target.write_text(yaml.safe_dump(derived, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return [step["name"] for step in pipeline]


def _run(args: list[str]) -> None:
    subprocess.run(args, cwd=PROJECT_ROOT, env=quiet_env(), check=True, capture_output=True, timeout=LIMIT_S)


def evaluate(source: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wz-smp2019-") as tmp:
        work = Path(tmp)
        train_n = markdown_to_yaml(source / "train.md", work / "train.yml")
        test_n = markdown_to_yaml(source / "test.md", work / "test.yml")
        pipeline = derived_config(work / "config.yml")
        started = time.perf_counter()
        _run([RASA, "train", "nlu", "--nlu", str(work / "train.yml"), "--config", str(work / "config.yml"),
              "--out", str(work / "models")])  # fmt: skip
        train_s = time.perf_counter() - started
        model = latest_model(work / "models")
        _run([RASA, "test", "nlu", "--nlu", str(work / "test.yml"), "--model", str(model),
              "--out", str(work / "report"), "--no-plot"])  # fmt: skip
        report = json.loads((work / "report" / "intent_report.json").read_text(encoding="utf-8"))
    intents = {
        name: {"f1": round(v["f1-score"], 3), "support": v["support"]}
        for name, v in report.items()
        if isinstance(v, dict) and "f1-score" in v and name not in ("macro avg", "weighted avg", "micro avg")
    }
    return {
        "status": "ok",
        "data": str(source),
        "train_examples": train_n,
        "test_examples": test_n,
        "pipeline": pipeline,
        "dropped": list(DROPPED),
        "train_s": round(train_s, 1),
        "accuracy": round(report["accuracy"], 3),
        "macro_f1": round(report["macro avg"]["f1-score"], 3),
        "weighted_f1": round(report["weighted avg"]["f1-score"], 3),
        "weighted_precision": round(report["weighted avg"]["precision"], 3),
        "weighted_recall": round(report["weighted avg"]["recall"], 3),
        "per_intent": intents,
        "published": PUBLISHED,
    }


def run(explicit: str | None = None) -> dict[str, Any]:
    source = data_dir(explicit)
    if source is None:
        return {"status": "skipped: data not available", "published": PUBLISHED}
    return evaluate(source)
