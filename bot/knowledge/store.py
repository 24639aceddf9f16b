"""The knowledge base: catalog, guides, sites and aspects, validated on load."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.i18n.languages import load_languages
from bot.knowledge.schema import KnowledgeError, check_guide
from bot.knowledge.translations import check_translation, overlay

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = PROJECT_ROOT / "knowledge"
CONTEXT_FILE = "context.yml"
TOPICS_FILE = "topics.yml"
# What a context word can signal; the actions read these values from `context` entities.
CONTEXT_SIGNALS = {"ordinal_1", "ordinal_2", "ordinal_3", "return", "abroad", "relative", "correction", "more", "handoff"}
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


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            # libyaml's parser: the guides in four languages load in a fraction of a second instead of seconds.
            return yaml.load(handle, Loader=_LOADER)
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
        # Guides about a way of doing things (a relative acting, a site abroad), and the aspect of
        # any item they stand for when an item is under discussion.
        self.way_items: dict[str, str] = (context or {}).get("way_items") or {}
        self.colloquial: dict[str, list[str]] = (context or {}).get("colloquial") or {}
        # Per language, the words that put someone else to work ("让", "ask"): with a relative after
        # them ("叫舅舅", "ask my brother") they ask who may act, the proxy aspect.
        self.acting_words: dict[str, list[str]] = (context or {}).get("acting") or {}
        self._check_context()
        self.languages = load_languages(str(self.root))
        topics = _read_yaml(self.root / TOPICS_FILE) if (self.root / TOPICS_FILE).exists() else {}
        # Areas of the catalog named as a whole ("户口", "passeport"): topic key -> items, words per language.
        self.topics: dict[str, dict[str, Any]] = (topics or {}).get("topics") or {}
        self.general_words: dict[str, list[str]] = (topics or {}).get("general") or {}
        self._check_topics()
        # language -> item id -> translated text fields; language -> sites.yml / aspects.yml of that language
        self.translated: dict[str, dict[str, dict[str, Any]]] = {}
        self.translated_sites: dict[str, dict[str, Any]] = {}
        self.translated_aspects: dict[str, dict[str, dict[str, Any]]] = {}
        self._load_translations()

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
        for language, verbs in self.acting_words.items():
            if not isinstance(verbs, list) or not all(isinstance(w, str) and w.strip() for w in verbs):
                problems.append(f"{path}: acting.{language}: must be a list of non-empty strings")
        for way_item, aspect in self.way_items.items():
            if way_item not in self.guides or aspect not in self.aspects:
                problems.append(f"{path}: way_items.{way_item}: unknown item or aspect {aspect}")
        for domestic, overseas in self.abroad_variants.items():
            for item_id in (domestic, overseas):
                if item_id not in self.guides:
                    problems.append(f"{path}: abroad_variants.{domestic}: unknown item {item_id}")
        if problems:
            raise KnowledgeError(problems)

    def _check_topics(self) -> None:
        path = self.root / TOPICS_FILE
        problems = []
        known = set(self.languages.supported)
        for key, topic in self.topics.items():
            items = (topic or {}).get("items")
            if not isinstance(items, list) or len(items) < 2:
                problems.append(f"{path}: topics.{key}.items: a topic needs two items or more")
            else:
                problems += [f"{path}: topics.{key}.items: unknown item {item}" for item in items if item not in self.guides]
            for language, words in ((topic or {}).get("words") or {}).items():
                if language not in known:
                    problems.append(f"{path}: topics.{key}.words.{language}: not a language of languages.yml")
                if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                    problems.append(f"{path}: topics.{key}.words.{language}: must be a list of non-empty strings")
        for language, words in self.general_words.items():
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                problems.append(f"{path}: general.{language}: must be a list of non-empty strings")
        if problems:
            raise KnowledgeError(problems)

    def topic_words(self) -> dict[str, set[str]]:
        """Every topic word (all languages) and the topics it names."""
        words: dict[str, set[str]] = {}
        for key, topic in self.topics.items():
            for found in ((topic or {}).get("words") or {}).values():
                for word in found:
                    words.setdefault(word.strip().lower(), set()).add(key)
        return words

    def topic_items(self, keys: list[str]) -> list[str]:
        """The items of these topics, in the order of the file, each once."""
        items: list[str] = []
        for key in keys:
            for item in (self.topics.get(key) or {}).get("items") or []:
                if item in self.guides and item not in items:
                    items.append(item)
        return items

    def context_phrases(self) -> dict[str, set[str]]:
        """Every context word (all languages) and the signals it gives."""
        phrases: dict[str, set[str]] = {}
        for signals in self.context_words.values():
            for signal, words in (signals or {}).items():
                for word in words:
                    phrases.setdefault(word.strip().lower(), set()).add(signal)
        return phrases

    def _load_translations(self) -> None:
        problems: list[str] = []
        for language in self.languages.foreign:
            folder = self.root / "translations" / language
            if not folder.is_dir():
                continue  # tests/test_knowledge.py requires every supported language to be there
            texts: dict[str, dict[str, Any]] = {}
            for path in sorted((folder / "guides").rglob("*.yml")):
                data = _read_yaml(path)
                chinese = self.guides.get(data.get("id")) if isinstance(data, dict) else None
                if chinese is None:
                    problems.append(f"{path}: id: not a catalog id")
                    continue
                found = check_translation(path, data, chinese.data)
                if path.parent.name != chinese.category:
                    found.append(f"{path}: category: file must be under guides/{chinese.category}/")
                problems.extend(found)
                if not found:
                    texts[chinese.id] = data
            problems += [
                f"{folder / 'guides'}: id: no translation of {item}" for item in self.guides if item not in texts
            ]
            self.translated[language] = texts
            self.translated_sites[language] = _read_yaml(folder / "sites.yml") or {}
            self.translated_aspects[language] = (_read_yaml(folder / "aspects.yml") or {}).get("aspects", {})
            for key in self.aspects:
                entry = self.translated_aspects[language].get(key) or {}
                if not entry.get("label") or not entry.get("words"):
                    problems.append(f"{folder / 'aspects.yml'}: aspects.{key}: needs a label and words")
        if problems:
            raise KnowledgeError(problems)

    def guide(self, item_id: str, language: str | None = None) -> Guide | None:
        """The guide, in `language` where a translation exists (the Chinese guide is authoritative)."""
        guide = self.guides.get(item_id)
        translated = self.translated.get(language or "", {}).get(item_id)
        if guide is None or translated is None:
            return guide
        return Guide(overlay(guide.data, translated))

    def title(self, item_id: str, language: str | None = None) -> str:
        translated = self.translated.get(language or "", {}).get(item_id)
        return translated["title"] if translated else self.guides[item_id].title

    def site(self, kind: str, site_id: str, language: str | None = None) -> dict[str, Any]:
        entry = next(entry for entry in self.sites[kind] if entry["id"] == site_id)
        translated = (self.translated_sites.get(language or "", {}).get(kind) or {}).get(site_id)
        return {**entry, **translated} if translated else entry

    def site_text(self, key: str, language: str | None = None) -> str:
        """A top-level text of sites.yml (clerk_hours, hotline) in `language`."""
        return self.translated_sites.get(language or "", {}).get(key) or self.sites[key]

    def aspect_label(self, key: str, language: str | None = None) -> str:
        translated = self.translated_aspects.get(language or "", {}).get(key)
        return translated["label"] if translated else self.aspects[key]["label"]

    def aspect_words(self) -> dict[str, set[str]]:
        """Every word people use for each aspect, in all languages."""
        words = {key: set(aspect["words"]) for key, aspect in self.aspects.items()}
        for found in words.values():
            # Everyday spellings (context.yml `colloquial`): "要带啥" as well as "要带什么".
            for word in list(found):
                for piece, variants in self.colloquial.items():
                    if piece in word:
                        found.update(word.replace(piece, variant) for variant in variants)
        for aspects in self.translated_aspects.values():
            for key, entry in aspects.items():
                if key in words:
                    words[key].update(entry.get("words") or [])
        if "proxy" in words:
            words["proxy"].update(self.acting_phrases())
        return words

    def acting_phrases(self) -> set[str]:
        """"叫舅舅", "ask my brother", "chiedere a mio fratello": a relative put to work (context.yml
        `acting` before `words.<language>.relative`), so that each list stays short."""
        phrases: set[str] = set()
        for language, verbs in self.acting_words.items():
            relatives = (self.context_words.get(language) or {}).get("relative") or []
            joint = "" if language == "zh" else " "
            phrases.update(f"{verb}{joint}{relative}" for verb in verbs for relative in relatives)
            if language == "zh":
                # "托我舅舅" as well as "托舅舅".
                phrases.update(f"{verb}我{relative}" for verb in verbs for relative in relatives if relative[0] != "我")
        return phrases

    def not_aspect_words(self) -> set[str]:
        """Phrases that contain an aspect word without asking that aspect (`not` in aspects.yml)."""
        words = {word for aspect in self.aspects.values() for word in aspect.get("not") or []}
        for aspects in self.translated_aspects.values():
            words.update(word for entry in aspects.values() for word in entry.get("not") or [])
        return words

    def item_phrases(self) -> dict[str, set[str]]:
        """Every phrase that names an item (title, synonyms, in every language) and the items it names."""
        phrases: dict[str, set[str]] = {}
        sources = [(guide.id, [guide.title, *guide.synonyms]) for guide in self.guides.values()]
        for texts in self.translated.values():
            sources += [(item_id, [data["title"], *data["synonyms"]]) for item_id, data in texts.items()]
        for item_id, names in sources:
            for phrase in names:
                key = phrase.strip().lower()
                if len(key) >= 2:
                    phrases.setdefault(key, set()).add(item_id)
        return phrases

    def place_names(self) -> dict[str, str]:
        """Country, city and site names (in every language) mapped to the site or desk id."""
        names: dict[str, str] = {}
        for site in self.sites["overseas_sites"]:
            names[site["name"]] = site["id"]
            names.setdefault(site["city"], site["id"])
            names.setdefault(site["country"], site["id"])
        for desk in self.sites["domestic_desks"]:
            names[desk["name"]] = desk["id"]
            names.setdefault(desk["area"], desk["id"])
        for sites in self.translated_sites.values():
            for kind in ("overseas_sites", "domestic_desks"):
                for site_id, entry in (sites.get(kind) or {}).items():
                    names.setdefault(entry["name"].lower(), site_id)
                    for key in ("city", "country", "area"):
                        if entry.get(key):
                            names.setdefault(entry[key].lower(), site_id)
            for site_id, aliases in (sites.get("places") or {}).items():
                for alias in aliases or []:
                    names.setdefault(str(alias).lower(), site_id)
        return names


@functools.lru_cache(maxsize=4)
def load_knowledge(root: str | None = None) -> KnowledgeBase:
    """The knowledge base, loaded once per process (root from KNOWLEDGE_DIR)."""
    return KnowledgeBase(Path(root or os.environ.get("KNOWLEDGE_DIR", DEFAULT_ROOT)))
