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
