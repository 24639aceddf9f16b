"""The knowledge base: catalog, guides, sites and aspects, validated on load."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.schema import KnowledgeError, check_guide

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = PROJECT_ROOT / "knowledge"
CONTEXT_FILE = "context.yml"
# What a context word can signal; the actions read these values from `context` entities.
CONTEXT_SIGNALS = {"ordinal_1", "ordinal_2", "ordinal_3", "return", "abroad", "relative"}
SAMPLE_NOTICE = "示例内容：本指南为项目编写的示例文本，正式上线前由运营机构替换为官方办事指南。"


@dataclass(frozen=True)
class Guide:
    """One service guide; `data` keeps the validated YAML mapping."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def title(self) -> str:
        return self.data["title"]

    @property
    def category(self) -> str:
        return self.data["category"]

    @property
    def synonyms(self) -> list[str]:
        return list(self.data["synonyms"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise KnowledgeError([f"{path}: not valid YAML: {error}"]) from error


class KnowledgeBase:
    """All guides and the site directory, checked against the schema."""

    def __init__(self, root: Path = DEFAULT_ROOT):
        self.root = Path(root)
        catalog = _read_yaml(self.root / "catalog.yml")
        self.catalog: list[dict[str, str]] = catalog["items"]
        self.sites: dict[str, Any] = _read_yaml(self.root / "sites.yml")
        self.aspects: dict[str, dict[str, Any]] = _read_yaml(self.root / "aspects.yml")["aspects"]
        self.guides: dict[str, Guide] = self._load_guides()
        context = _read_yaml(self.root / CONTEXT_FILE) if (self.root / CONTEXT_FILE).exists() else {}
        self.context_words: dict[str, dict[str, list[str]]] = (context or {}).get("words") or {}
        self.abroad_variants: dict[str, str] = (context or {}).get("abroad_variants") or {}
        self._check_context()

    def _load_guides(self) -> dict[str, Guide]:
        by_id = {entry["id"]: entry for entry in self.catalog}
        site_ids = {
            kind: {entry["id"] for entry in self.sites[kind]} for kind in ("domestic_desks", "overseas_sites", "online")
        }
        problems: list[str] = []
        guides: dict[str, Guide] = {}
        for path in sorted((self.root / "guides").rglob("*.yml")):
            data = _read_yaml(path)
            entry = by_id.get(data.get("id")) if isinstance(data, dict) else None
            found = check_guide(path, data, entry, site_ids)
            if entry and path.parent.name != entry["category"]:
                found.append(f"{path}: category: file must be under guides/{entry['category']}/")
            problems.extend(found)
            if not found:
                if data["id"] in guides:
                    problems.append(f"{path}: id: {data['id']} has more than one guide")
                guides[data["id"]] = Guide(data)
        missing = [item_id for item_id in by_id if item_id not in guides]
        for item_id in missing:
            if not any(item_id in problem for problem in problems):
                problems.append(f"{self.root / 'guides'}: id: no guide for catalog id {item_id}")
        if problems:
            raise KnowledgeError(problems)
        return {entry["id"]: guides[entry["id"]] for entry in self.catalog}

    def _check_context(self) -> None:
        path = self.root / CONTEXT_FILE
        problems = []
        for language, signals in self.context_words.items():
            for signal, words in (signals or {}).items():
                if signal not in CONTEXT_SIGNALS:
                    problems.append(f"{path}: words.{language}.{signal}: unknown signal (one of {sorted(CONTEXT_SIGNALS)})")
                elif not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                    problems.append(f"{path}: words.{language}.{signal}: must be a list of non-empty strings")
        for domestic, overseas in self.abroad_variants.items():
            for item_id in (domestic, overseas):
                if item_id not in self.guides:
                    problems.append(f"{path}: abroad_variants.{domestic}: unknown item {item_id}")
        if problems:
            raise KnowledgeError(problems)

    def context_phrases(self) -> dict[str, set[str]]:
        """Every context word (all languages) and the signals it gives."""
        phrases: dict[str, set[str]] = {}
        for signals in self.context_words.values():
            for signal, words in (signals or {}).items():
                for word in words:
                    phrases.setdefault(word.strip().lower(), set()).add(signal)
        return phrases

    def guide(self, item_id: str) -> Guide | None:
        return self.guides.get(item_id)

    def title(self, item_id: str) -> str:
        return self.guides[item_id].title

    def site(self, kind: str, site_id: str) -> dict[str, Any]:
        return next(entry for entry in self.sites[kind] if entry["id"] == site_id)

    def item_phrases(self) -> dict[str, set[str]]:
        """Every phrase that names an item (title, synonyms) and the items it names."""
        phrases: dict[str, set[str]] = {}
        for guide in self.guides.values():
            for phrase in [guide.title, *guide.synonyms]:
                key = phrase.strip().lower()
                if len(key) >= 2:
                    phrases.setdefault(key, set()).add(guide.id)
        return phrases

    def place_names(self) -> dict[str, str]:
        """Country, city and site names mapped to the site or desk id."""
        names: dict[str, str] = {}
        for site in self.sites["overseas_sites"]:
            names[site["name"]] = site["id"]
            names.setdefault(site["city"], site["id"])
            names.setdefault(site["country"], site["id"])
        for desk in self.sites["domestic_desks"]:
            names[desk["name"]] = desk["id"]
            names.setdefault(desk["area"], desk["id"])
        return names


@functools.lru_cache(maxsize=4)
def load_knowledge(root: str | None = None) -> KnowledgeBase:
    """The knowledge base, loaded once per process (root from KNOWLEDGE_DIR)."""
    return KnowledgeBase(Path(root or os.environ.get("KNOWLEDGE_DIR", DEFAULT_ROOT)))
