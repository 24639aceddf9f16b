"""Reading and writing the NLU training data in Rasa's YAML format.

The data is laid out by language, then by guide category:
bot/data/nlu/<lang>/<category>.yml (item intents) and <lang>/general.yml
(greetings, hand-off, case status...). Rasa reads the folders recursively.

Trainers' new examples go to bot/data/nlu/<lang>/corrections.yml, written in a
stable order (intents by name, examples by text) so that a diff shows exactly
what changed. Edits and deletions of existing examples are made in place in
the file that holds them, keeping every other line as it was.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from bot.knowledge.store import PROJECT_ROOT
from bot.nlu.normalize import normalize

_LOCK = threading.Lock()

NLU_DIR = PROJECT_ROOT / "bot" / "data" / "nlu"
CORRECTIONS = "corrections.yml"
GENERAL = "general.yml"
# The language of the citizens' messages the workbench corrects today.
DEFAULT_LANG = "zh"
_ANNOTATION = re.compile(r"\[([^\]]*)\]\((?:[^)]*)\)|\[([^\]]*)\]\{[^}]*\}")


@dataclass(frozen=True)
class Example:
    intent: str
    text: str  # as written in the file, with any [span](entity) annotations
    file: str  # relative to the NLU directory: "<lang>/<name>.yml"

    @property
    def lang(self) -> str:
        return self.file.split("/", 1)[0]

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


def training_files(nlu_dir: Path = NLU_DIR) -> list[Path]:
    """Every NLU file, language folder by language folder: <nlu_dir>/<lang>/*.yml."""
    return sorted(nlu_dir.glob("*/*.yml"))


def languages(nlu_dir: Path = NLU_DIR) -> list[str]:
    return sorted(path.name for path in nlu_dir.iterdir() if path.is_dir())


def read_examples(nlu_dir: Path = NLU_DIR, lang: str | None = None) -> list[Example]:
    """The examples of every language, or of one."""
    examples = []
    for path in training_files(nlu_dir):
        if lang and path.parent.name != lang:
            continue
        relative = path.relative_to(nlu_dir).as_posix()
        for intent, text in _examples_in(path.read_text(encoding="utf-8")):
            examples.append(Example(intent, text, relative))
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


def corrections_file(lang: str = DEFAULT_LANG) -> str:
    """Where the trainers' examples of one language go, relative to the NLU directory."""
    return f"{lang}/{CORRECTIONS}"


def corrections(nlu_dir: Path = NLU_DIR, lang: str = DEFAULT_LANG) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for example in read_examples(nlu_dir, lang):
        if example.file == corrections_file(lang):
            grouped.setdefault(example.intent, set()).add(example.text)
    return grouped


@contextmanager
def _editing(nlu_dir: Path) -> Iterator[None]:
    """One writer of the training data at a time, across threads and processes (issue 10): each
    edit reads, changes and rewrites a file, and two at once would lose one."""
    nlu_dir.mkdir(parents=True, exist_ok=True)
    # The lock file lives outside the data directory, so it never shows up in git or in `rasa train`.
    name = hashlib.sha256(str(nlu_dir.resolve()).encode()).hexdigest()[:16]
    with _LOCK, open(Path(tempfile.gettempdir()) / f"wenzhou-nlu-{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    """A reader (or `rasa train`) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_correction(intent: str, text: str, nlu_dir: Path = NLU_DIR, lang: str = DEFAULT_LANG) -> None:
    with _editing(nlu_dir):
        grouped = corrections(nlu_dir, lang)
        grouped.setdefault(intent, set()).add(_quote(text))
        _write_atomically(nlu_dir / corrections_file(lang), render_corrections(grouped))


def replace_example(file: str, intent: str, old: str, new: str | None, nlu_dir: Path = NLU_DIR) -> bool:
    """Edit (new text) or delete (new=None) one example in place; False if not found.

    `file` is relative to the NLU directory ("zh/exit_entry.yml"), as in `Example.file`.
    """
    with _editing(nlu_dir):
        return _replace_example(nlu_dir / file, intent, old, new)


def _replace_example(path: Path, intent: str, old: str, new: str | None) -> bool:
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
            if path.name == CORRECTIONS:
                grouped: dict[str, set[str]] = {}
                for example in _examples_in(text):
                    grouped.setdefault(example[0], set()).add(example[1])
                text = render_corrections(grouped)
            _write_atomically(path, text)
            return True
    return False


def _examples_in(text: str) -> list[tuple[str, str]]:
    """(intent, example as written) of one NLU file's text."""
    data = yaml.safe_load(text) or {}
    found = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples", "")).splitlines():
            if line.strip().startswith("- "):
                found.append((block["intent"], line.strip()[2:].strip()))
    return found
