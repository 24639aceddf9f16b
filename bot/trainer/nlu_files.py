"""Reading and writing the NLU training data in Rasa's YAML format.

Trainers' new examples go to bot/data/nlu/corrections.yml, written in a
stable order (intents by name, examples by text) so that a diff shows exactly
what changed. Edits and deletions of existing examples are made in place in
the file that holds them, keeping every other line as it was.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.knowledge.store import PROJECT_ROOT
from bot.nlu.normalize import normalize

NLU_DIR = PROJECT_ROOT / "bot" / "data" / "nlu"
CORRECTIONS = "corrections.yml"
_ANNOTATION = re.compile(r"\[([^\]]*)\]\((?:[^)]*)\)|\[([^\]]*)\]\{[^}]*\}")


@dataclass(frozen=True)
class Example:
    intent: str
    text: str  # as written in the file, with any [span](entity) annotations
    file: str

    @property
    def plain(self) -> str:
        return plain_text(self.text)


def plain_text(annotated: str) -> str:
    return _ANNOTATION.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), annotated)


def key(text: str) -> str:
    """What makes two examples the same: normalised characters, no spaces or punctuation."""
    return re.sub(r"[\s\W_]+", "", normalize(plain_text(text)))


def annotate(text: str, entities: list[dict]) -> str:
    """Rasa's inline form: 我在[普拉托](place)，or [text]{"entity": ..., "value": ...}."""
    out, cursor = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        span = text[entity["start"] : entity["end"]]
        out.append(text[cursor : entity["start"]])
        if entity.get("value") and entity["value"] != span:
            label = json.dumps({"entity": entity["entity"], "value": entity["value"]}, ensure_ascii=False)
        else:
            label = f"({entity['entity']})"
        out.append(f"[{span}]{label}")
        cursor = entity["end"]
    out.append(text[cursor:])
    return "".join(out)


def read_examples(nlu_dir: Path = NLU_DIR) -> list[Example]:
    examples = []
    for path in sorted(nlu_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu", []):
            if "intent" not in block:
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    examples.append(Example(block["intent"], line[2:].strip(), path.name))
    return examples


def _quote(text: str) -> str:
    # One example per line in a block scalar: keep it on one line.
    return " ".join(text.split())


def render_corrections(examples: dict[str, set[str]]) -> str:
    lines = [
        "# Examples added by trainers in the console (bot/trainer). Written in a stable",
        "# order, intents by name and examples by text: a diff shows exactly what changed.",
        'version: "3.1"',
        "nlu:",
    ]
    for intent in sorted(examples):
        if not examples[intent]:
            continue
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {_quote(text)}" for text in sorted(examples[intent], key=lambda t: (key(t), t))]
    if lines[-1] == "nlu:":
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


def corrections(nlu_dir: Path = NLU_DIR) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for example in read_examples(nlu_dir):
        if example.file == CORRECTIONS:
            grouped.setdefault(example.intent, set()).add(example.text)
    return grouped


def add_correction(intent: str, text: str, nlu_dir: Path = NLU_DIR) -> None:
    grouped = corrections(nlu_dir)
    grouped.setdefault(intent, set()).add(_quote(text))
    (nlu_dir / CORRECTIONS).write_text(render_corrections(grouped), encoding="utf-8")


def replace_example(file: str, intent: str, old: str, new: str | None, nlu_dir: Path = NLU_DIR) -> bool:
    """Edit (new text) or delete (new=None) one example in place; False if not found."""
    path = nlu_dir / file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    current_intent = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("- intent:"):
            current_intent = stripped.split(":", 1)[1].strip()
        elif current_intent == intent and stripped == f"- {old}":
            if new is None:
                del lines[index]
            else:
                lines[index] = line[: line.index("- ")] + f"- {_quote(new)}\n"
            text = "".join(lines)
            if file == CORRECTIONS:
                grouped: dict[str, set[str]] = {}
                for example in _examples_in(text):
                    grouped.setdefault(example[0], set()).add(example[1])
                text = render_corrections(grouped)
            path.write_text(text, encoding="utf-8")
            return True
    return False


def _examples_in(text: str) -> list[tuple[str, str]]:
    data = yaml.safe_load(text) or {}
    found = []
    for block in data.get("nlu") or []:
        for line in str(block.get("examples", "")).splitlines():
            if line.strip().startswith("- "):
                found.append((block["intent"], line.strip()[2:].strip()))
    return found
